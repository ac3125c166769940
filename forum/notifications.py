"""Notifications, created by reactions to forum events (never inline with the action that caused them)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum import events, subscribe_messages
from forum.members import User
from kernel import clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.outbox import Event
from kernel.pagination import Page, keyset_page
from kernel.sql import insert_if_absent, rows_changed

KINDS = ("reply", "quote", "mention", "like", "applause", "moderation", "idea", "order", "system")


class Notification(Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    post_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(300), default="")
    # One notification per recipient per event: the reaction can run twice and still notify once.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")

    __table_args__ = (
        UniqueConstraint("event_id", "user_id", name="uq_notifications_event_user"),
        Index("ix_notifications_inbox", "user_id", "id"),
        Index("ix_notifications_unread", "user_id", "read_at"),
    )


def notify(
    user_id: int,
    kind: str,
    *,
    event: Event | None = None,
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    post_id: int | None = None,
    message: str = "",
    topic: str | None = None,
    title: str = "",
) -> bool:
    """One in-app notification; with a `topic` (a kind of notice in WECHAT_SUBSCRIBE_TEMPLATES) it also goes out
    as a WeChat subscribe message when the member has a consent for that template left."""
    if actor_id is not None and actor_id == user_id:
        return False  # nobody is told about their own actions
    created = insert_if_absent(
        Notification,
        {
            "user_id": user_id,
            "kind": kind,
            "actor_id": actor_id,
            "subject_type": subject[0] if subject else None,
            "subject_id": subject[1] if subject else None,
            "post_id": post_id,
            "message": message[:300],
            "event_id": event.id if event else None,
            "created_at": clock.now(),
        },
    )
    if created and topic is not None:
        subscribe_messages.queue(user_id, topic, title=title, message=message, subject=subject)
    return created


def inbox(user: User, limit: int, cursor: str | None, unread_only: bool = False) -> Page:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return keyset_page(query, [Notification.id], limit, cursor)


def unread_count(user: User) -> int:
    return db.session.execute(
        select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).scalar_one()


def mark_read(user: User, ids: list[int] | None) -> int:
    """Mark the given notifications (or all, when ids is None) read; other members' ids are ignored."""
    statement = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    return rows_changed(statement.values(read_at=clock.now()))


# Reactions to forum events. Each recipient gets at most one notification per event, the most specific kind.


@outbox.subscribe(events.POST_PUBLISHED, name="forum.notify_post_mentions")
def _on_post_published(event: Event) -> None:
    for user_id in event.payload.get("mentions", []):
        notify(
            user_id,
            "mention",
            event=event,
            actor_id=event.actor_id,
            subject=event.subject,
            post_id=event.subject[1],
        )


@outbox.subscribe(events.REPLY_CREATED, name="forum.notify_reply")
def _on_reply(event: Event) -> None:
    payload = event.payload
    common = {
        "event": event,
        "actor_id": event.actor_id,
        "subject": event.subject,
        "post_id": payload["post_id"],
    }
    told: set[int] = set()
    for kind, user_id in (("quote", payload.get("quoted_author_id")), ("reply", payload.get("post_author_id"))):
        if user_id and user_id not in told:
            told.add(user_id)
            notify(user_id, kind, **common)
    for user_id in payload.get("mentions", []):
        if user_id not in told:
            told.add(user_id)
            notify(user_id, "mention", **common)


@outbox.subscribe(events.LIKE_RECEIVED, name="forum.notify_like")
def _on_like(event: Event) -> None:
    _tell_recipient(event, "like")


@outbox.subscribe(events.APPLAUSE_RECEIVED, name="forum.notify_applause")
def _on_applause(event: Event) -> None:
    _tell_recipient(event, "applause")


def _tell_recipient(event: Event, kind: str) -> None:
    recipient = event.payload["recipient_id"]
    notify(
        recipient, kind, event=event, actor_id=event.actor_id, subject=event.subject, post_id=event.payload["post_id"]
    )
