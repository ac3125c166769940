"""The tasks centre: daily, weekly and one-time goals with progress from activity counters, paid on completion."""

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from economy import activity, events, ledger
from economy.badges import metrics_with_rules
from economy.earning import CONTRIBUTIONS, beneficiary, refresh_level
from economy.ledger import Source
from forum.members import User
from kernel import outbox
from kernel.db import Model, db
from kernel.outbox import Event

PERIODS = ("daily", "weekly", "once")


class Task(Model):
    __tablename__ = "tasks"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
    period: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str] = mapped_column(String(48))
    target: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    contribution: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


def task_key(task: Task, user_id: int, period: str) -> str:
    return f"task:{task.code}:{user_id}:{period}"


@outbox.subscribe(events.CHECKED_IN, *CONTRIBUTIONS, name="economy.activity")
def count_and_reward(event: Event) -> None:
    user_id = beneficiary(event)
    if not user_id or activity.is_repeat_reaction(event) or db.session.get(User, user_id) is None:
        return
    counts = activity.bump(user_id, event.type, event.created_at)
    if event.type in metrics_with_rules():  # badges look at the new count once it is stored
        outbox.emit(
            events.ACTIVITY_COUNTED,
            actor_id=user_id,
            subject=("user", user_id),
            payload={"user_id": user_id, "metric": event.type, "count": counts["once"]},
        )
    periods = activity.period_keys(event.created_at)
    for task in db.session.scalars(select(Task).where(Task.metric == event.type, Task.enabled.is_(True))):
        if counts[task.period] >= task.target:
            _pay(task, user_id, periods[task.period])


def _pay(task: Task, user_id: int, period: str) -> None:
    _, created = ledger.credit(
        user_id,
        points=task.points,
        contribution=task.contribution,
        source=Source.TASK,
        key=task_key(task, user_id, period),
        memo=task.title,
        reason_code=f"task:{task.code}",
    )
    if created:
        refresh_level(user_id)


def progress(user: User, now: datetime) -> list[dict]:
    periods = activity.period_keys(now)
    rows = []
    for task in db.session.scalars(select(Task).where(Task.enabled.is_(True)).order_by(Task.position, Task.code)):
        period = periods[task.period]
        done = activity.count(user.id, task.metric, period)
        rows.append(
            {
                "code": task.code,
                "title": task.title,
                "period": task.period,
                "target": task.target,
                "progress": min(done, task.target),
                "completed": done >= task.target,
                "rewarded": ledger.existing(task_key(task, user.id, period)) is not None,
                "points": task.points,
                "contribution": task.contribution,
            }
        )
    return rows
