"""The tasks centre: daily, weekly and one-time goals with progress from activity counters, paid on completion.

Operators tune tasks; every contribution reads them, so they are a catalogue cached in each process
(kernel.catalogue) and handed around as `TaskTerms` snapshots.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from economy import activity, events, ledger
from economy.badges import metrics_with_rules
from economy.earning import CONTRIBUTIONS, beneficiary
from economy.ledger import Source
from economy.levels import follow_credit
from forum.members import User
from kernel import audit, outbox
from kernel.catalogue import Catalogue
from kernel.db import Model, db
from kernel.outbox import Event
from kernel.sql import get_or_404

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


@dataclass(frozen=True)
class TaskTerms:
    code: str
    title: str
    period: str
    metric: str
    target: int
    points: int
    contribution: int


def _load_tasks() -> tuple[TaskTerms, ...]:
    query = select(Task).where(Task.enabled.is_(True)).order_by(Task.position, Task.code)
    return tuple(
        TaskTerms(task.code, task.title, task.period, task.metric, task.target, task.points, task.contribution)
        for task in db.session.scalars(query)
    )


TASKS = Catalogue("tasks", _load_tasks)


def task_key(task: TaskTerms, user_id: int, period: str) -> str:
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
    for task in TASKS.get():
        if task.metric == event.type and counts[task.period] >= task.target:
            _pay(task, user_id, periods[task.period])


def _pay(task: TaskTerms, user_id: int, period: str) -> None:
    credited = ledger.credit(
        user_id,
        points=task.points,
        contribution=task.contribution,
        source=Source.TASK,
        key=task_key(task, user_id, period),
        memo=task.title,
        reason_code=f"task:{task.code}",
    )
    follow_credit(user_id, credited, task.contribution)


def progress(user: User, now: datetime) -> list[dict]:
    periods = activity.period_keys(now)
    rows = []
    for task in TASKS.get():
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


# Staff


def list_tasks() -> list[Task]:
    return list(db.session.scalars(select(Task).order_by(Task.position, Task.code)))


def update_task(actor: User, code: str, **changes) -> Task:
    """Tune a task (operators; audited). Its metric and period stay: they define what the task counts."""
    actor.ensure_role("operator", doing="change tasks")
    task = get_or_404(Task, code, "task")
    for field in ("title", "target", "points", "contribution", "position", "enabled"):
        if field in changes:
            setattr(task, field, changes[field])
    db.session.flush()
    TASKS.changed()
    audit.record(actor, "economy.task", "task", None, code=code, **changes)
    return task
