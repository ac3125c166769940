"""Shared kernel: database handle, unit of work, key-value store, clock, domain errors, the event catalogue and
outbox, idempotency keys and the audit log.

Nothing here imports from the domain packages (forum, c2b, economy, moderation, operations) or the HTTP layer;
`lint-imports` checks it.
"""
