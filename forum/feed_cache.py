"""The generation of cached feed pages: any change to what a post shows or where it shows starts a new one.

Feed pages are cached briefly in the store under the current generation. When a transaction changes a post's
visibility (status, deletion), placement (board, pin, feature) or text, forum.posts marks the feeds stale and the
generation moves on once the transaction commits, so a post a moderator hides leaves every cached page at once.
Counters (likes, replies, views) do not start a new generation: those may lag by the cache's few seconds.
"""

import contextlib

from sqlalchemy import event
from sqlalchemy.orm import Session

from kernel.db import db
from kernel.store import StoreUnavailable, current_store

GENERATION_KEY = "feed:generation"
_FLAG = "feeds_stale"


def generation() -> str:
    return current_store().get(GENERATION_KEY) or "0"


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
