"""One run of a job at a time, whatever runs it (beat, a CLI, two beats by mistake): a lock in the shared store."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from kernel.store import current_store


@contextmanager
def exclusive(name: str, seconds: int) -> Iterator[bool]:
    """Yields True when this caller holds the lock. The lock expires by itself after `seconds`, so a run that died
    never blocks the job for good; keep `seconds` above the job's longest run."""
    store = current_store()
    key, token = f"job-lock:{name}", uuid.uuid4().hex
    mine = store.set(key, token, ttl=seconds, only_if_new=True)
    try:
        yield mine
    finally:
        if mine and store.get(key) == token:
            store.delete(key)
