"""The generation of cached feed pages: any change to what a post shows or where it shows starts a new one.

Feed pages are cached briefly in the store under the address they were asked for, each tagged with the generation it
was built in and the time it expires; a page from an older generation is a miss. Each worker also holds the pages it
served lately, so a hot page costs one small read (the current generation) instead of fetching the page itself; a
held page expires with the stored one. When a transaction changes a post's visibility (status, deletion), placement
(board, pin, feature) or text, forum.posts marks the feeds stale and the generation moves on once the transaction
commits, so a post a moderator hides leaves every cached page, in every worker, at once. Counters (likes, replies,
views) do not start a new generation: those may lag by the cache's few seconds.

A generation is a random token, not a count: a store that lost it (flushed, restarted) starts a new one that no
earlier page was tagged with, so nothing held from before is served.
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

_held: LRUCache[str, tuple[str, float, bytes]] = LRUCache(HELD_PAGES)  # address → generation, expiry, JSON
_held_lock = threading.Lock()


def cached_page(store: Store, address: str) -> tuple[bytes | None, str]:
    """The cached JSON of the page at this address (path and query) if it belongs to the current generation, and that
    generation. A page this worker holds costs one small store read; another, one read of the page and generation."""
    with _held_lock:
        held = _held.get(address)
    if held is not None and held[1] > time.time():
        current = store.get(GENERATION_KEY) or _new_generation(store)
        if held[0] == current:
            return held[2], current
    found, stored = store.get_many(GENERATION_KEY, PAGE_PREFIX + address)
    generation = found or _new_generation(store)
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


def _new_generation(store: Store) -> str:
    token = uuid.uuid4().hex
    return token if store.set(GENERATION_KEY, token, only_if_new=True) else store.get(GENERATION_KEY) or token


def mark_stale(session: Session | None = None) -> None:
    (session or db.session()).info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _start_new_generation(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        with contextlib.suppress(StoreUnavailable):
            current_store().set(GENERATION_KEY, uuid.uuid4().hex)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_FLAG, None)
