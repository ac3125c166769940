"""HTTP resources: one blueprint per area, registered (and documented) in this order."""

from api.resources import (
    auth,
    badges,
    boards,
    economy,
    health,
    ideas,
    jobs,
    media,
    members,
    moderation,
    notifications,
    operations,
    posts,
    presale,
    replies,
    rewards,
)

BLUEPRINTS = (
    health.blp,
    auth.blp,
    members.blp,
    boards.blp,
    posts.blp,
    replies.blp,
    media.blp,
    notifications.blp,
    moderation.blp,
    economy.blp,
    rewards.blp,
    badges.blp,
    ideas.blp,
    presale.blp,
    operations.blp,
    jobs.blp,
)
