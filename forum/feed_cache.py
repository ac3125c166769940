"""The generation of cached feed pages: any change to what a post shows or where it shows starts a new one.

Feed pages are cached briefly in the store under the address they were asked for, each tagged with the generation it
was built in; one read fetches the page and the current generation together, and a page from an older generation is
a miss. When a transaction changes
a post's visibility (status, deletion), placement (board, pin, feature) or text, forum.posts marks the feeds stale
and the generation moves on once the transaction commits, so a post a moderator hides leaves every cached page at
once. Counters (likes, replies, views) do not start a new generation: those may lag by the cache's few seconds.
"""

import contextlib

from sqlalchemy import event
from sqlalchemy.orm import Session

from kernel.db import db
from kernel.store import Store, StoreUnavailable, current_store

GENERATION_KEY = "feed:generation"
_FLAG = "feeds_stale"
PAGE_PREFIX = "feed:page:"


def cached_page(store: Store, address: str) -> tuple[str | None, str]:
    """The cached JSON of the page at this address (path and query) if it belongs to the current generation, and that
    generation: one store trip."""
    generation, stored = store.get_many(GENERATION_KEY, PAGE_PREFIX + address)
    generation = generation or "0"
    if stored:
        tag, _, body = stored.partition("\n")
        if tag == generation:
            return body, generation
    return None, generation


def keep_page(store: Store, address: str, generation: str, body: str, ttl: int) -> None:
    """Tagged with the generation read before the page was built, so a change committed meanwhile makes it stale."""
    store.set(PAGE_PREFIX + address, f"{generation}\n{body}", ttl=ttl)


def mark_stale(session: Session | None = None) -> None:
    (session or db.session()).info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _start_new_generation(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        with contextlib.suppress(StoreUnavailable):
            current_store().incr(GENERATION_KEY)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_FLAG, None)
