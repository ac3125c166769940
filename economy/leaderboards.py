"""Contribution leaderboards (weekly, monthly, all time) kept in the store's sorted sets.

The ledger records contribution moves during a unit of work; they reach the store only after it commits, so a
rolled-back award never shows. The boards can be rebuilt from the ledger at any time, and when the store is down
reads fall back to the ledger directly.
"""

import contextlib
from datetime import datetime, timedelta

from flask import has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from economy.ledger import Account, Entry
from kernel.clock import community_day, day_start
from kernel.db import db
from kernel.store import StoreUnavailable, current_store

PERIODS = ("week", "month", "all")


def board_key(period: str, moment: datetime) -> str:
    day = community_day(moment)
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"lb:week:{year}-W{week:02d}"
    if period == "month":
        return f"lb:month:{day:%Y-%m}"
    return "lb:all"


def period_start(period: str, moment: datetime) -> datetime | None:
    day = community_day(moment)
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    else:
        return None
    return day_start(day)


@event.listens_for(Session, "after_commit")
def _apply_after_commit(session: Session) -> None:
    deltas = session.info.pop("contribution_deltas", None)
    if not deltas or not has_app_context():
        return
    # The board is a projection: while the store is away, `flask economy rebuild-leaderboards` catches it up.
    with contextlib.suppress(StoreUnavailable):
        changes = [(board_key(p, moment), delta, str(user_id)) for user_id, delta, moment in deltas for p in PERIODS]
        current_store().zincrby_many(changes)  # every period of every delta in one store trip


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("contribution_deltas", None)


def _from_ledger(period: str, moment: datetime, limit: int) -> list[tuple[int, int]]:
    query = (
        select(Account.user_id, func.sum(Entry.amount).label("score"))
        .join(Account, Account.id == Entry.account_id)
        .where(Entry.measure == "contribution", Account.user_id.is_not(None))
        .group_by(Account.user_id)
        .having(func.sum(Entry.amount) > 0)
        .order_by(func.sum(Entry.amount).desc(), Account.user_id.desc())
        .limit(limit)
    )
    start = period_start(period, moment)
    if start is not None:
        query = query.where(Entry.created_at >= start)
    return [(int(user_id or 0), int(score)) for user_id, score in db.session.execute(query)]


def _ensure_built(moment: datetime) -> None:
    """A fresh store (a new process with the in-process store, or a flushed Redis) rebuilds from the ledger."""
    store = current_store()
    marker = "lb:built:" + board_key("week", moment) + board_key("month", moment)
    if not store.exists(marker):
        rebuild(moment)
        store.set(marker, "1", ttl=40 * 24 * 3600)


def top(period: str, moment: datetime, limit: int) -> tuple[list[tuple[int, int]], bool]:
    """[(user_id, score)] best first, and whether it came from the store (False: degraded to the ledger)."""
    try:
        _ensure_built(moment)
        rows = current_store().zrevrange(board_key(period, moment), 0, limit - 1)
        return [(int(m), int(s)) for m, s in rows if s > 0], True
    except StoreUnavailable:
        return _from_ledger(period, moment, limit), False


def rank_of(period: str, moment: datetime, user_id: int) -> tuple[int | None, int]:
    try:
        _ensure_built(moment)
        store = current_store()
        key = board_key(period, moment)
        score = store.zscore(key, str(user_id))
        rank = store.zrevrank(key, str(user_id))
        return (rank + 1 if rank is not None and score and score > 0 else None), int(score or 0)
    except StoreUnavailable:
        return None, 0


def rebuild(moment: datetime) -> int:
    """Recompute the current boards from the ledger; returns how many members are ranked all-time."""
    store = current_store()
    ranked = 0
    for period in PERIODS:
        rows = _from_ledger(period, moment, 10**9)
        key = board_key(period, moment)
        store.delete(key)
        if rows:
            store.zadd(key, {str(u): s for u, s in rows})
        ranked = len(rows)
    return ranked
