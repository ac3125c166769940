"""Transactional outbox: domain events are rows written in the same transaction as the action they record.

Reactions (points, badges, notifications…) subscribe by event type. Each (event, handler) pair runs at most once:
a row in `event_handlings` is inserted in the same transaction as the handler's effects, so a retry or a second
worker racing on the same event hits the primary key and changes nothing, and a crash before commit leaves the
event to be picked up again by `flask events process`.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.events import EventType

log = logging.getLogger(__name__)

PENDING_KEY = "outbox_pending_event_ids"


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
) -> Event:
    """Add an event to the current transaction; it exists only if the transaction commits."""
    event_type.check_payload(payload or {})
    event = Event(
        type=event_type.name,
        actor_id=actor_id,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        payload=payload or {},
        created_at=at or clock.now(),
    )
    db.session.add(event)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(event.id)
    return event


def commit(*, process: bool | None = None) -> None:
    """Commit the unit of work, then run the reactions to the events it wrote (inline mode)."""
    db.session.commit()
    pending = db.session.info.pop(PENDING_KEY, [])
    from flask import current_app

    inline = current_app.config.get("EVENTS_INLINE", True) if process is None else process
    if inline and pending:
        process_events(pending)


def discard_pending() -> None:
    db.session.info.pop(PENDING_KEY, None)


def process_events(event_ids: list[int]) -> None:
    """Process events and whatever further events their handlers emit, breadth first."""
    queue = list(event_ids)
    while queue:
        process_event(queue.pop(0))
        queue.extend(db.session.info.pop(PENDING_KEY, []))


def process_event(event_id: int) -> bool:
    """Apply every subscribed handler once. True when the event is fully processed."""
    event = db.session.get(Event, event_id)
    if event is None or event.processed_at is not None:
        db.session.rollback()
        return event is not None
    complete = True
    for sub in subscriptions_for(event.type):
        complete = _apply(event_id, sub) and complete
    if complete:
        db.session.execute(
            update(Event).where(Event.id == event_id, Event.processed_at.is_(None)).values(processed_at=clock.now())
        )
        db.session.commit()
    return complete


def _apply(event_id: int, sub: Subscription) -> bool:
    try:
        db.session.add(EventHandling(event_id=event_id, handler=sub.name, handled_at=clock.now()))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # another run already applied this handler: nothing to do
        return True
    try:
        sub.handler(db.session.get_one(Event, event_id))
        db.session.commit()
        return True
    except IntegrityError:
        # A unique key in the handler's own effects says the outcome already exists (e.g. a one-time award
        # reached by a twin event): record the handling so the event is not retried forever.
        db.session.rollback()
        log.warning("handler %s found its effect already present for event %s", sub.name, event_id)
        return _record_handled(event_id, sub.name)
    except Exception:
        db.session.rollback()
        log.exception("handler %s failed on event %s; it will be retried", sub.name, event_id)
        return False


def _record_handled(event_id: int, handler: str) -> bool:
    try:
        db.session.add(EventHandling(event_id=event_id, handler=handler, handled_at=clock.now()))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    return True


def process_backlog(limit: int = 1000) -> int:
    """Retry events left unprocessed by a crash or a failing handler. Returns how many completed."""
    ids = db.session.scalars(select(Event.id).where(Event.processed_at.is_(None)).order_by(Event.id).limit(limit)).all()
    db.session.rollback()
    done = 0
    for event_id in ids:
        done += process_event(event_id)
        process_events(db.session.info.pop(PENDING_KEY, []))
    return done
