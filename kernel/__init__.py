"""Shared kernel: database handle, key-value store, clock, domain errors and the event outbox.

Nothing here imports from the domain packages (forum, economy, moderation) or the HTTP layer.
"""
