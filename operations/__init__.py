"""Community operations (KOC): activity tiers, interest tags, segments, experience-officer campaigns, product
feedback and dashboards. Reads forum, economy and moderation; only the HTTP layer imports it."""
