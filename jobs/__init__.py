"""Background work: the periodic jobs (their registry and locks), and the Celery app whose workers run the outbox's
reactions, the fan-out batches and, from beat, every periodic job. Like `api`, an entry point over the domain
packages; nothing below imports it."""
