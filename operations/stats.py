"""Dashboard numbers for operators: activity, content, points inflation, the idea funnel, pre-sale conversion."""

from datetime import datetime, timedelta

from sqlalchemy import func, select

from c2b import ideas
from c2b.ideas import Idea
from c2b.presale import Order
from economy.ledger import Account, Entry, LedgerTransaction
from forum import events as forum_events
from kernel.clock import community_day
from kernel.db import db
from kernel.outbox import Event

SPEND_ACCOUNTS = ("mall", "lottery")


def _by_day(rows, days: list[str]) -> list[dict]:
    counts = {str(day): count for day, count in rows}
    return [{"day": day, "count": counts.get(day, 0)} for day in days]


def overview(now: datetime, days: int) -> dict:
    since = now - timedelta(days=days)
    day_list = [str(community_day(now - timedelta(days=offset))) for offset in range(days - 1, -1, -1)]
    # Days are bucketed in UTC by the database; close enough for a dashboard, exact for the window's totals.
    day = func.date(Event.created_at)
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
        "idea_funnel": {status: funnel.get(status, 0) for status in ideas.STATUSES},
        "presale": {
            "orders": placed,
            "paid_or_confirmed": paid,
            "conversion": round(paid / placed, 3) if placed else None,
            "by_status": orders,
        },
    }
