"""Daily check-in (签到) in the community's timezone, with a streak and a bonus every Nth consecutive day."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Date, ForeignKey, Integer, bindparam, select
from sqlalchemy.orm import Mapped, mapped_column

from economy import events, ledger
from economy.earning import apply_rule, terms_or_404
from forum.members import User
from kernel import outbox
from kernel.clock import community_day
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict
from kernel.sql import column_rows, insert_or_none


class CheckIn(Model):
    __tablename__ = "checkins"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def streak_bonus(streak: int) -> int:
    every = current_app.config["CHECKIN_BONUS_EVERY"]
    return current_app.config["CHECKIN_BONUS_POINTS"] if every and streak % every == 0 else 0


@dataclass(frozen=True)
class CheckedIn:
    record: CheckIn
    balance: int  # the member's points after this check-in's award


# The streak a member reached on a day, built once (its values are parameters).
_STREAK_ON = select(CheckIn.streak).where(CheckIn.user_id == bindparam("user_id"), CheckIn.day == bindparam("day"))


def check_in(user: User, now: datetime) -> CheckedIn:
    """Once per community day. A double tap inserts one row (the second gets 409) and so pays once."""
    today = community_day(now)
    yesterday = column_rows(_STREAK_ON, {"user_id": user.id, "day": today - timedelta(days=1)}).scalar()
    streak = yesterday + 1 if yesterday else 1
    rule = terms_or_404("checked_in")
    bonus = streak_bonus(streak)
    points = (rule.points + bonus) if rule.enabled else 0
    record = insert_or_none(
        CheckIn, {"user_id": user.id, "day": today, "streak": streak, "points": points, "created_at": now}
    )
    if record is None:
        raise Conflict("already checked in today", code="already_checked_in", details={"day": today.isoformat()})
    paid = apply_rule(
        rule,
        user.id,
        f"checkin:{user.id}:{today.isoformat()}",
        subject=("checkin", user.id),
        at=now,
        bonus_points=bonus,
        memo=f"签到 day {streak}",
        once_a_day=True,  # the day's check-in row (inserted above) is the member's only one
    )
    if paid is None:
        record.points = 0  # a cap the operators set held the award back: the day shows what was paid
        balance = ledger.member_account(user.id).balance
    else:
        balance = paid.balance or 0
    outbox.emit(
        events.CHECKED_IN,
        actor_id=user.id,
        subject=("user", user.id),
        payload={"day": today.isoformat(), "streak": streak},
        at=now,
    )
    return CheckedIn(record, balance)


def status(user: User, now: datetime) -> dict:
    today = community_day(now)
    latest = db.session.scalar(select(CheckIn).where(CheckIn.user_id == user.id).order_by(CheckIn.day.desc()).limit(1))
    alive = latest is not None and latest.day >= today - timedelta(days=1)
    return {
        "checked_in_today": latest is not None and latest.day == today,
        "streak": latest.streak if latest is not None and alive else 0,
        "day": today.isoformat(),
    }
