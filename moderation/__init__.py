"""Word filter, review queue, reports, sanctions, board moderators and the audit log."""
