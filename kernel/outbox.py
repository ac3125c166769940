"""Transactional outbox: domain events are rows written in the same transaction as the action they record.

Reactions (points, badges, notifications…) subscribe by event type. Each (event, handler) pair runs at most once:
a row in `event_handlings` is inserted in the same transaction as the handler's effects, so a retry or a second
worker racing on the same event hits the primary key and changes nothing, and a crash before commit leaves the
event to be picked up again by `flask events process`.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import (
    JSON,
    ColumnElement,
    Executable,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from kernel import clock
from kernel.db import Model, UTCDateTime, db, is_postgres
from kernel.events import EventType
from kernel.sql import as_loaded, dialect_statement, insert_or_none, written_rows

log = logging.getLogger(__name__)

PENDING_KEY = "outbox_pending_event_ids"
T = TypeVar("T")


class Event(Model):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_events_unprocessed", "processed_at", "id"),
        Index("ix_events_subject", "subject_type", "subject_id"),
    )

    @property
    def subject(self) -> tuple[str, int]:
        """What the event is about, for the handlers of events that always have a subject."""
        if self.subject_type is None or self.subject_id is None:
            raise LookupError(f"event {self.id} ({self.type}) has no subject")
        return self.subject_type, self.subject_id


class EventHandling(Model):
    """Proof that one handler has applied one event; its primary key is the idempotency key."""

    __tablename__ = "event_handlings"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    handler: Mapped[str] = mapped_column(String(100), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime)


Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Subscription:
    name: str
    handler: Handler


_subscriptions: dict[str, list[Subscription]] = {}


def subscribe(*event_types: EventType, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register a reaction. The name is persisted, so renaming a handler makes it run again on old events."""

    def register(handler: Handler) -> Handler:
        handler_name = name or f"{handler.__module__}.{handler.__qualname__}"
        for event_type in event_types:
            subs = _subscriptions.setdefault(event_type.name, [])
            if all(s.name != handler_name for s in subs):
                subs.append(Subscription(handler_name, handler))
        return handler

    return register


def subscriptions_for(event_type: str) -> list[Subscription]:
    return list(_subscriptions.get(event_type, ()))


def emit(
    event_type: EventType,
    *,
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Add an event to the current transaction; it exists only if the transaction commits. Returns its id.

    Written with a Core INSERT rather than through the ORM's flush: nothing in the request reads the event back,
    and every write that emits pays for it."""
    return _insert_event(_event_values(event_type, actor_id, subject, payload, at))


def _insert_event(values: dict[str, Any]) -> int:
    event_id: int = db.session.execute(_INSERT_EVENT, values).scalar_one()
    _pending(event_id)
    return event_id


def _pending(event_id: int) -> None:
    """The unit of work dispatches this event once it commits (see commit)."""
    db.session.info.setdefault(PENDING_KEY, []).append(event_id)


_INSERT_EVENT = insert(Event.__table__).returning(Event.__table__.c.id)  # type: ignore[arg-type]


def _event_values(
    event_type: EventType,
    actor_id: int | None,
    subject: tuple[str, int] | None,
    payload: dict[str, Any] | None,
    at: datetime | None,
) -> dict[str, Any]:
    event_type.check_payload(payload or {})
    return {
        "type": event_type.name,
        "actor_id": actor_id,
        "subject_type": subject[0] if subject else None,
        "subject_id": subject[1] if subject else None,
        "payload": payload or {},
        "created_at": at or clock.now(),
    }


def insert_announced(
    model: type[T],
    values: dict[str, Any],
    event_type: EventType,
    *,
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> T | None:
    """insert_or_none's row and, only when it went in, the event that announces it (see emit). On PostgreSQL both
    are one statement (see written_and_announced); SQLite, which has no data-modifying CTEs, runs insert_or_none
    then emit."""
    event = _event_values(event_type, actor_id, subject, payload, at)
    if not is_postgres():
        row = insert_or_none(model, values)
        if row is not None:
            _insert_event(event)
        return row
    written = _written_and_announced((_row_unless_taken, model, tuple(values)), (), _row_params(values), event)
    return None if written is None else as_loaded(model, written)


def insert_announced_then(
    model: type[T],
    values: dict[str, Any],
    event_type: EventType,
    then: tuple[Any, ...],
    then_params: dict[str, Any],
    *,
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> tuple[T, Sequence[Any] | None] | None:
    """PostgreSQL only: insert_announced's row and event and, in the same statement, the write that `then[0](added,
    *then[1:])` builds on the row's CTE `added` (a data-modifying CTE RETURNING what the caller needs, its parameters
    in then_params): the row and what that write returned (None when it wrote nothing), or None when a twin held the
    row's key and nothing was written."""
    event = _event_values(event_type, actor_id, subject, payload, at)
    rows = (_row_unless_taken, model, tuple(values))
    written = _written_and_announced(rows, (), {**_row_params(values), **then_params}, event, then)
    if written is None:
        return None
    width = len(model.__table__.columns)  # type: ignore[attr-defined]
    followed = written[width:]
    return as_loaded(model, written[:width]), (None if all(value is None for value in followed) else followed)


def written_and_announced(
    build_rows: Callable[..., Executable],
    params: dict[str, Any],
    event_type: EventType,
    *,
    payload_columns: tuple[tuple[str, str], ...],
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    at: datetime | None = None,
) -> Sequence[Any] | None:
    """PostgreSQL only: the row that `build_rows(insert)` (an INSERT … RETURNING every column of its table that may
    write nothing; see kernel.sql.dialect_statement) writes and, only when it wrote one, the event announcing it, in
    one statement. The payload's fields are columns of the written row, (field, column) pairs, as SQL writes them
    into JSON (a date as its ISO day): what the row alone decides, like a streak, is announced in the same round
    trip."""
    fields = {field: None for field, _ in payload_columns}
    return _written_and_announced(
        (build_rows,), payload_columns, params, _event_values(event_type, actor_id, subject, fields, at)
    )


def _written_and_announced(
    rows: tuple[Any, ...],
    payload_columns: tuple[tuple[str, str], ...],
    params: dict[str, Any],
    event: dict[str, Any],
    then: tuple[Any, ...] = (),
) -> Sequence[Any] | None:
    """The statement's row after the event's id (which joins the unit of work's pending events): the written row's
    columns, then those of `then`'s write."""
    statement = dialect_statement(_rows_and_event, rows, payload_columns, then)
    if payload_columns:
        event = {key: value for key, value in event.items() if key != "payload"}
    written = written_rows(statement, {**params, **{f"event_{key}": value for key, value in event.items()}}).first()
    if written is None:
        return None
    _pending(written[0])
    return written[1:]


def _row_params(values: dict[str, Any]) -> dict[str, Any]:
    return {f"row_{key}": value for key, value in values.items()}


def _row_unless_taken(insert: Callable[[Any], Any], model: type[Any], keys: tuple[str, ...]) -> Executable:
    """INSERT the row of these values unless a twin holds its key, RETURNING it. Its parameters are named
    `row_<column>`: SQLAlchemy adds to an UPDATE's SET clause the columns of its table that the execution's
    parameters name, so a parameter named as a column of a table that `then` updates (created_at) would join it."""
    table = model.__table__
    return (
        insert(table)
        .values({key: bindparam(f"row_{key}", type_=table.c[key].type) for key in keys})
        .on_conflict_do_nothing()
        .returning(*table.columns)
    )


def _rows_and_event(
    insert: Callable[[Any], Any],
    rows: tuple[Any, ...],
    payload_columns: tuple[tuple[str, str], ...],
    then: tuple[Any, ...],
) -> Executable:
    """WITH added AS (the rows' INSERT … RETURNING them), announced AS (INSERT the event FROM added RETURNING its id)
    [, then AS (a write built on added)] SELECT the event's id, the row [and what `then` returned, or NULLs]: no row,
    and so no event, when the INSERT wrote nothing. The payload is a parameter, or built from the row's columns."""
    build_rows, *args = rows
    added = build_rows(insert, *args).cte("added")
    events = Event.__table__
    values: list[ColumnElement[Any]] = [
        bindparam(f"event_{name}", type_=events.c[name].type) for name in _EVENT_COLUMNS
    ]
    if payload_columns:
        pairs = [part for field, column in payload_columns for part in (literal(field), added.c[column])]
        values[_EVENT_COLUMNS.index("payload")] = func.json_build_object(*pairs)
    announced = (
        insert(events)
        .from_select(list(_EVENT_COLUMNS), select(*values).select_from(added))
        .returning(events.c.id)
        .cte("announced")
    )
    joined = added.join(announced, true())
    if not then:
        return select(announced.c.id, added).select_from(joined)
    build_then, *then_args = then
    followed = build_then(added, *then_args)
    return select(announced.c.id, added, followed).select_from(joined.outerjoin(followed, true()))


_EVENT_COLUMNS = ("type", "actor_id", "subject_type", "subject_id", "payload", "created_at")


def commit() -> None:
    """Commit the unit of work, then hand the events it wrote to their reactions: right away in this process
    (EVENTS_INLINE, the embedded default) or to the application's dispatcher (Celery workers). Work that never
    reached the database (a page served from the cache) has nothing to commit."""
    if db.session().in_transaction():
        db.session.commit()
    dispatch(take_pending())


def take_pending() -> list[int]:
    return db.session.info.pop(PENDING_KEY, [])


def discard_pending() -> None:
    db.session.info.pop(PENDING_KEY, None)


def inline() -> bool:
    """True when reactions run in this process right after the commit (no worker to hand them to)."""
    return current_app.config.get("EVENTS_INLINE", True) or "event_dispatcher" not in current_app.extensions


def dispatch(event_ids: list[int]) -> None:
    if not event_ids:
        return
    if inline():
        process_events(event_ids)
    else:
        current_app.extensions["event_dispatcher"](event_ids)


def process_events(event_ids: list[int]) -> None:
    """Process events and whatever further events their handlers emit, breadth first."""
    queue = list(event_ids)
    while queue:
        process_event(queue.pop(0))
        queue.extend(take_pending())


@dataclass(frozen=True)
class Outcome:
    complete: bool
    failures: dict[str, str]  # handler name → what went wrong


def process_event(event_id: int) -> Outcome:
    """Apply every subscribed handler once; the outcome says which handlers failed (they may be retried)."""
    event = db.session.get(Event, event_id)
    if event is None or event.processed_at is not None:
        db.session.rollback()
        return Outcome(complete=event is not None, failures={})
    failures = {}
    for sub in subscriptions_for(event.type):
        error = _apply(event_id, sub)
        if error is not None:
            failures[sub.name] = error
    if not failures:
        db.session.execute(
            update(Event).where(Event.id == event_id, Event.processed_at.is_(None)).values(processed_at=clock.now())
        )
        db.session.commit()
    return Outcome(complete=not failures, failures=failures)


def _apply(event_id: int, sub: Subscription) -> str | None:
    """Run one handler once; None when it has run (now or before), else the error."""
    try:
        db.session.add(EventHandling(event_id=event_id, handler=sub.name, handled_at=clock.now()))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another run already applied this handler: nothing to do
        return None
    try:
        sub.handler(db.session.get_one(Event, event_id))
        db.session.commit()
        return None
    except IntegrityError:
        # A unique key in the handler's own effects says the outcome already exists (e.g. a one-time award
        # reached by a twin event): record the handling so the event is not retried forever.
        db.session.rollback()
        log.warning("handler %s found its effect already present for event %s", sub.name, event_id)
        _record_handled(event_id, sub.name)
        return None
    except Exception as exc:
        db.session.rollback()
        discard_pending()
        log.exception("handler %s failed on event %s; it will be retried", sub.name, event_id)
        return f"{type(exc).__name__}: {exc}"[:2000]


def _record_handled(event_id: int, handler: str) -> None:
    try:
        db.session.add(EventHandling(event_id=event_id, handler=handler, handled_at=clock.now()))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()


def process_backlog(limit: int = 1000) -> int:
    """Run reactions for events left unprocessed (a crash, a lost message, a failing handler). Events whose
    handlers failed for good are left to `retry_failed`. Returns how many completed."""
    done = 0
    for event_id in due(limit=limit):
        done += process_event(event_id).complete
        process_events(take_pending())
    return done


# Events whose handlers kept failing: recorded after the last retry, visible to admins, retried by hand.


class EventFailure(Model):
    __tablename__ = "event_failures"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    handler: Mapped[str] = mapped_column(String(100), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def record_failures(event_id: int, failures: dict[str, str], attempts: int) -> None:
    db.session.execute(delete(EventFailure).where(EventFailure.event_id == event_id))
    for handler, error in failures.items():
        db.session.add(
            EventFailure(event_id=event_id, handler=handler, attempts=attempts, error=error, failed_at=clock.now())
        )
    db.session.commit()


def failures(limit: int = 100) -> list[EventFailure]:
    return list(db.session.scalars(select(EventFailure).order_by(EventFailure.failed_at.desc()).limit(limit)))


def retry_failed(event_id: int | None = None) -> list[int]:
    """Forget recorded failures (of one event, or all) and hand those events to their reactions again."""
    query = select(EventFailure.event_id).distinct()
    if event_id is not None:
        query = query.where(EventFailure.event_id == event_id)
    event_ids = sorted(db.session.scalars(query))
    if event_ids:
        db.session.execute(delete(EventFailure).where(EventFailure.event_id.in_(event_ids)))
        db.session.commit()
        dispatch(event_ids)
    return event_ids


def due(*, older_than: datetime | None = None, limit: int = 1000) -> list[int]:
    """Unprocessed events without a recorded failure, oldest first. On PostgreSQL the rows are locked with SKIP
    LOCKED until the caller's transaction ends, so two sweeps running at once take different events."""
    query = (
        select(Event.id)
        .where(Event.processed_at.is_(None), ~exists().where(EventFailure.event_id == Event.id))
        .order_by(Event.id)
        .limit(limit)
    )
    if older_than is not None:
        query = query.where(Event.created_at <= older_than)
    if is_postgres():
        query = query.with_for_update(skip_locked=True)
    return list(db.session.scalars(query))


def backlog() -> dict[str, Any]:
    """What operators watch: events waiting for reactions, the oldest one's age, and failed handlers."""
    pending, oldest = db.session.execute(
        select(func.count(Event.id), func.min(Event.created_at)).where(Event.processed_at.is_(None))
    ).one()
    failed = db.session.execute(select(func.count()).select_from(EventFailure)).scalar_one()
    age = (clock.now() - oldest).total_seconds() if oldest else None
    return {"pending_events": pending, "oldest_pending_seconds": age, "failed_handlers": failed}
