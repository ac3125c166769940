"""Dashboard numbers for operators: activity, content, points inflation, the idea funnel, pre-sale conversion."""

from datetime import datetime, timedelta

from sqlalchemy import func, select

from c2b import ideas
from c2b.ideas import Idea
from c2b.presale import Order
from economy.ledger import Account, Entry, LedgerTransaction, system_account_id
from forum import events as forum_events
from kernel.clock import community_day, community_zone
from kernel.db import db
from kernel.outbox import Event
from operations.tiers import TIERS, MemberTier

SPEND_ACCOUNTS = ("mall", "lottery")


def _per_day(rows) -> dict[str, int]:
    """{day: figure} from (day, figure) rows; the day is a date on PostgreSQL, text on SQLite."""
    return {str(day): int(value or 0) for day, value in rows}


def _by_day(rows, days: list[str]) -> list[dict]:
    counts = _per_day(rows)
    return [{"day": day, "count": counts.get(day, 0)} for day in days]


def _community_date(column, now: datetime):
    """The community day of a UTC timestamp column, cut by the database. PostgreSQL converts with the zone itself;
    SQLite shifts by the zone's offset now (exact except across a DST change inside the window)."""
    zone = community_zone()
    if db.engine.dialect.name == "postgresql":
        return func.date(func.timezone(zone.key, func.timezone("UTC", column)))
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


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
    issuance = system_account_id("issuance")
    sinks = [system_account_id(code) for code in SPEND_ACCOUNTS]
    points = Entry.measure == "points"
    recent = Entry.created_at >= since
    entry_day = _community_date(Entry.created_at, now)
    issued_by_day = _per_day(
        db.session.execute(
            select(entry_day, -func.sum(Entry.amount))
            .where(Entry.account_id == issuance, points, recent)
            .group_by(entry_day)
        )
    )
    spent_by_day = _per_day(
        db.session.execute(
            select(entry_day, func.sum(Entry.amount))
            .where(Entry.account_id.in_(sinks), points, recent)
            .group_by(entry_day)
        )
    )
    # The window's totals are its days' sums (all of them, the window's first part-day included).
    issued, spent = sum(issued_by_day.values()), sum(spent_by_day.values())
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
                "issued": issued_by_day.get(day, 0),
                "spent": spent_by_day.get(day, 0),
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
