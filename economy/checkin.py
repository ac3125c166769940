"""Daily check-in (签到) in the community's timezone, with a streak and a bonus every Nth consecutive day."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Date, Executable, ForeignKey, Integer, bindparam, case, func, select, true
from sqlalchemy.orm import Mapped, mapped_column

from economy import events, ledger
from economy.earning import apply_rule, terms_or_404
from forum.members import User
from kernel import outbox
from kernel.clock import community_day
from kernel.db import Model, UTCDateTime, db, is_postgres
from kernel.errors import Conflict
from kernel.sql import as_loaded, dialect_statement, written_rows


class CheckIn(Model):
    __tablename__ = "checkins"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class CheckedIn:
    record: CheckIn
    balance: int  # the member's points after this check-in's award


def _check_in_row(insert: Callable[[Any], Any]) -> Executable:
    """INSERT the day's row unless there is one, its streak read from yesterday's row in the same statement (one
    round trip where a read and a write would be two) and its points those of the rule, with CHECKIN_BONUS_POINTS more
    on every CHECKIN_BONUS_EVERY-th day of a streak; RETURNING the row. Built once per database (see
    dialect_statement): its values are parameters."""
    yesterday = select(CheckIn.streak).where(
        CheckIn.user_id == bindparam("user_id"), CheckIn.day == bindparam("yesterday")
    )
    reached = select((func.coalesce(yesterday.scalar_subquery(), 0) + 1).label("streak")).subquery("reached")
    every = func.nullif(bindparam("bonus_every", type_=Integer), 0)  # 0: no bonus (and no division by zero)
    points = case(
        (reached.c.streak % every == 0, bindparam("points", type_=Integer) + bindparam("bonus", type_=Integer)),
        else_=bindparam("points", type_=Integer),
    )
    row = select(
        bindparam("user_id", type_=Integer),
        bindparam("day", type_=Date),
        reached.c.streak,
        points,
        bindparam("created_at", type_=UTCDateTime()),
    ).where(true())  # SQLite parses INSERT … SELECT … ON CONFLICT only with a WHERE
    table = CheckIn.__table__
    return (
        insert(table)
        .from_select(["user_id", "day", "streak", "points", "created_at"], row)
        .on_conflict_do_nothing()
        .returning(*table.columns)
    )


def check_in(user: User, now: datetime) -> CheckedIn:
    """Once per community day. A double tap inserts one row (the second gets 409) and so pays once."""
    today = community_day(now)
    rule = terms_or_404("checked_in")
    config = current_app.config
    values = {
        "user_id": user.id,
        "day": today,
        "yesterday": today - timedelta(days=1),
        "points": rule.points if rule.enabled else 0,
        "bonus": config["CHECKIN_BONUS_POINTS"] if rule.enabled else 0,
        "bonus_every": config["CHECKIN_BONUS_EVERY"],
        "created_at": now,
    }
    # On PostgreSQL the row and its event (whose streak the row decides) go in together; SQLite emits it below.
    announced = is_postgres()
    if announced:
        inserted = outbox.written_and_announced(
            _check_in_row,
            values,
            events.CHECKED_IN,
            payload_columns=(("day", "day"), ("streak", "streak")),
            actor_id=user.id,
            subject=("user", user.id),
            at=now,
        )
    else:
        inserted = written_rows(dialect_statement(_check_in_row), values).first()
    if inserted is None:
        raise Conflict("already checked in today", code="already_checked_in", details={"day": today.isoformat()})
    record = as_loaded(CheckIn, inserted)
    streak = record.streak
    paid = apply_rule(
        rule,
        user.id,
        f"checkin:{user.id}:{today.isoformat()}",
        subject=("checkin", user.id),
        at=now,
        bonus_points=record.points - rule.points,  # the row decided the day's points: the rule's and any bonus
        memo=f"签到 day {streak}",
        once_a_day=True,  # the day's check-in row (inserted above) is the member's only one
    )
    if paid is None:
        record.points = 0  # a cap the operators set held the award back: the day shows what was paid
        balance = ledger.member_account(user.id).balance
    else:
        balance = paid.balance or 0
    if not announced:
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
