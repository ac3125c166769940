"""Dashboard numbers for operators: activity, content, points inflation, the idea funnel, pre-sale conversion."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from c2b import ideas
from c2b.ideas import Idea
from c2b.presale import Order
from economy.ledger import Account, Entry, LedgerTransaction
from forum import events as forum_events
from kernel.clock import community_day, community_zone
from kernel.db import db
from kernel.outbox import Event
from operations.tiers import TIERS, MemberTier

SPEND_ACCOUNTS = ("mall", "lottery")


def _by_day(rows, days: list[str]) -> list[dict]:
    counts = {str(day): count for day, count in rows}  # a date on PostgreSQL, text on SQLite
    return [{"day": day, "count": counts.get(day, 0)} for day in days]


def _community_date(column, now: datetime):
    """The community day of a UTC timestamp column, cut by the database. PostgreSQL converts with the zone itself;
    SQLite shifts by the zone's offset now (exact except across a DST change inside the window)."""
    zone = community_zone()
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, func.timezone("UTC", column)))
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _on(by_day: dict, day: str) -> int:
    """A day's figure whichever type the database returns for the day (a date on PostgreSQL, text on SQLite)."""
    return next((value for key, value in by_day.items() if str(key) == day), 0) or 0


def overview(now: datetime, days: int) -> dict:
    since = now - timedelta(days=days)
    day_list = [str(community_day(now - timedelta(days=offset))) for offset in range(days - 1, -1, -1)]
    day = _community_date(Event.created_at, now)
    active = db.session.execute(
        select(day, func.count(func.distinct(Event.actor_id)))
        .where(Event.created_at >= since, Event.actor_id.is_not(None))
        .group_by(day)
    ).all()
    posts = db.session.execute(
        select(day, func.count())
        .where(Event.created_at >= since, Event.type == forum_events.POST_PUBLISHED.name)
        .group_by(day)
    ).all()
    replies = db.session.execute(
        select(day, func.count())
        .where(Event.created_at >= since, Event.type == forum_events.REPLY_CREATED.name)
        .group_by(day)
    ).all()
    issuance = db.session.scalar(select(Account.id).where(Account.code == "issuance"))
    sinks = list(db.session.scalars(select(Account.id).where(Account.code.in_(SPEND_ACCOUNTS))))
    points = Entry.measure == "points"
    recent = Entry.created_at >= since
    issued = -(
        db.session.scalar(
            select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.account_id == issuance, points, recent)
        )
        or 0
    )
    spent = (
        db.session.scalar(
            select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.account_id.in_(sinks), points, recent)
        )
        or 0
    )
    entry_day = _community_date(Entry.created_at, now)
    issued_by_day: dict[Any, int] = dict(
        db.session.execute(
            select(entry_day, -func.sum(Entry.amount))
            .where(Entry.account_id == issuance, points, recent)
            .group_by(entry_day)
        ).all()
    )
    spent_by_day: dict[Any, int] = dict(
        db.session.execute(
            select(entry_day, func.sum(Entry.amount))
            .where(Entry.account_id.in_(sinks), points, recent)
            .group_by(entry_day)
        ).all()
    )
    tiers = dict(db.session.execute(select(MemberTier.tier, func.count()).group_by(MemberTier.tier)).all())
    clawed = db.session.scalar(
        select(func.count(LedgerTransaction.id)).where(
            LedgerTransaction.source == "clawback", LedgerTransaction.created_at >= since
        )
    )
    outstanding = db.session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.user_id.is_not(None))
    )
    funnel = dict(db.session.execute(select(Idea.status, func.count()).group_by(Idea.status)).all())
    orders = dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    placed = sum(orders.values())
    paid = sum(orders.get(s, 0) for s in ("paid", "confirmed"))
    return {
        "window_days": days,
        "daily_active_members": _by_day(active, day_list),
        "posts_per_day": _by_day(posts, day_list),
        "replies_per_day": _by_day(replies, day_list),
        "points": {
            "issued": issued,
            "spent": spent,
            "net_issued": issued - spent,
            "inflation_ratio": round(issued / spent, 3) if spent else None,
            "outstanding_balance": outstanding,
            "clawbacks": clawed,
        },
        "points_per_day": [  # community days, as the other series
            {
                "day": day,
                "issued": int(_on(issued_by_day, day)),
                "spent": int(_on(spent_by_day, day)),
            }
            for day in day_list
        ],
        "tiers": {tier: tiers.get(tier, 0) for tier in TIERS},
        "idea_funnel": {status: funnel.get(status, 0) for status in ideas.STATUSES},
        "presale": {
            "orders": placed,
            "paid_or_confirmed": paid,
            "conversion": round(paid / placed, 3) if placed else None,
            "by_status": orders,
        },
    }
