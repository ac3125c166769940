"""The generation of cached feed pages: any change to what a post shows or where it shows starts a new one.

Feed pages are cached briefly in the store under the address they were asked for, each tagged with the generation it
was built in and the time it expires; a page from an older generation is a miss. Each worker also holds the pages it
served lately and the generation it last read, for GENERATION_HOLD_SECONDS: a hot page then costs no store trip at
all (the read of the generation was half of a cached page's cost). A held page expires with the stored one. When a
transaction changes a post's visibility (status, deletion), placement (board, pin, feature) or text, forum.posts marks
the feeds stale and the generation moves on once the transaction commits: in the worker that committed at once, in
every other worker within the hold, so a post a moderator hides leaves every cached page within a fifth of a second.
Counters (likes, replies, views) do not start a new generation: those may lag by the cache's few seconds.

A generation is a random token, not a count: a store that lost it (flushed, restarted) starts a new one that no
earlier page was tagged with, so nothing held from before is served once the workers' holds have run out.
"""

import contextlib
import threading
import time
import uuid

from cachetools import LRUCache
from sqlalchemy import event
from sqlalchemy.orm import Session

from kernel.db import db
from kernel.store import Store, StoreUnavailable, current_store

GENERATION_KEY = "feed:generation"
_FLAG = "feeds_stale"
PAGE_PREFIX = "feed:page:"
HELD_PAGES = 256  # per worker: the hot pages (a page is ~10 kB)
GENERATION_HOLD_SECONDS = 0.2  # how long a worker trusts the generation it read: how late other workers see a change

_held: LRUCache[str, tuple[str, float, bytes]] = LRUCache(HELD_PAGES)  # address → generation, expiry, JSON
_held_lock = threading.Lock()
_seen: tuple[str, float] | None = None  # the generation this worker last read or started, and when (monotonic)


def cached_page(store: Store, address: str) -> tuple[bytes | None, str]:
    """The cached JSON of the page at this address (path and query) if it belongs to the current generation, and that
    generation. A page this worker holds costs nothing while the generation it read is fresh, else one small store
    read; another page, one read (of the page, and of the generation when the worker's is stale)."""
    with _held_lock:
        held = _held.get(address)
    generation = _held_generation()
    if held is not None and held[1] > time.time():
        generation = generation or _read_generation(store)
        if held[0] == generation:
            return held[2], generation
    if generation is None:
        found, stored = store.get_many(GENERATION_KEY, PAGE_PREFIX + address)
        generation = _saw(found or _new_generation(store))
    else:
        stored = store.get(PAGE_PREFIX + address)
    if stored:
        tag, expires, body = stored.split("\n", 2)
        if tag == generation and float(expires) > time.time():
            return _hold(address, tag, float(expires), body.encode()), generation
    return None, generation


def keep_page(store: Store, address: str, generation: str, body: bytes, ttl: int) -> None:
    """Tagged with the generation read before the page was built, so a change committed meanwhile makes it stale."""
    expires = time.time() + ttl
    store.set(PAGE_PREFIX + address, f"{generation}\n{expires}\n{body.decode()}", ttl=ttl)
    _hold(address, generation, expires, body)


def _hold(address: str, generation: str, expires: float, body: bytes) -> bytes:
    with _held_lock:
        _held[address] = (generation, expires, body)
    return body


def _held_generation() -> str | None:
    seen = _seen
    return seen[0] if seen is not None and time.monotonic() - seen[1] < GENERATION_HOLD_SECONDS else None


def _read_generation(store: Store) -> str:
    return _saw(store.get(GENERATION_KEY) or _new_generation(store))


def _saw(generation: str) -> str:
    global _seen
    _seen = (generation, time.monotonic())  # one assignment: threads reading it see the old or the new pair
    return generation


def forget_generation() -> None:
    """Read the generation from the store next time (a worker that knows the store was emptied)."""
    global _seen
    _seen = None


def _new_generation(store: Store) -> str:
    token = uuid.uuid4().hex
    return token if store.set(GENERATION_KEY, token, only_if_new=True) else store.get(GENERATION_KEY) or token


def mark_stale(session: Session | None = None) -> None:
    (session or db.session()).info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _start_new_generation(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        generation = _saw(uuid.uuid4().hex)  # this worker stops serving older pages now, even if the store is away
        with contextlib.suppress(StoreUnavailable):
            current_store().set(GENERATION_KEY, generation)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_FLAG, None)
