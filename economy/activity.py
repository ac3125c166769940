"""Activity counters per member, metric and period (day, ISO week, all time), fed by outbox events.

The tasks centre, badges and activity tiers read these instead of scanning the event log.
"""

from datetime import datetime

from sqlalchemy import Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from economy.earning import ONCE_PER_TARGET
from kernel.clock import community_day
from kernel.db import Model, db
from kernel.outbox import Event
from kernel.sql import insert_if_absent


class ActivityCounter(Model):
    __tablename__ = "activity_counters"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(48), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


def period_keys(moment: datetime) -> dict[str, str]:
    day = community_day(moment)
    year, week, _ = day.isocalendar()
    return {"daily": f"d:{day.isoformat()}", "weekly": f"w:{year}-W{week:02d}", "once": "all"}


def bump(user_id: int, metric: str, moment: datetime, amount: int = 1) -> dict[str, int]:
    """Add to the member's counters for every period; returns the new counts by period kind."""
    counts = {}
    for kind, period in period_keys(moment).items():
        insert_if_absent(ActivityCounter, {"user_id": user_id, "metric": metric, "period": period, "count": 0})
        db.session.execute(
            update(ActivityCounter)
            .where(
                ActivityCounter.user_id == user_id, ActivityCounter.metric == metric, ActivityCounter.period == period
            )
            .values(count=ActivityCounter.count + amount)
        )
        counts[kind] = db.session.get_one(ActivityCounter, (user_id, metric, period), populate_existing=True).count
    return counts


def count(user_id: int, metric: str, period: str) -> int:
    row = db.session.get(ActivityCounter, (user_id, metric, period))
    return row.count if row else 0


def is_repeat_reaction(event: Event) -> bool:
    """A like or applause from the same member on the same target counts once, however often it is toggled."""
    if event.type not in ONCE_PER_TARGET:
        return False
    earlier = db.session.scalar(
        select(Event.id)
        .where(
            Event.type == event.type,
            Event.subject_type == event.subject_type,
            Event.subject_id == event.subject_id,
            Event.actor_id == event.actor_id,
            Event.id < event.id,
        )
        .limit(1)
    )
    return earlier is not None
