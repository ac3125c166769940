"""The audit log: every staff action, append-only (PostgreSQL refuses UPDATE/DELETE on it by trigger).

The service that acts writes its entry as a step of the action, in the same unit of work, so the action and its
record commit or vanish together. It lives in the kernel so that every domain package can write it.
"""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.pagination import Page, keyset_page


class AuditEntry(Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_audit_target", "target_type", "target_id"),
        Index("ix_audit_actor", "actor_id", "id"),
    )


class Actor(Protocol):
    id: int


def record(
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: int | None,
    reason: str = "",
    **details: Any,
) -> AuditEntry:
    """Write one entry in the caller's unit of work; `actor` None is the system."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        details=details,
        created_at=clock.now(),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def search(
    *,
    actor_id: int | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page:
    query = select(AuditEntry)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id is not None:
        query = query.where(AuditEntry.target_id == target_id)
    return keyset_page(query, [AuditEntry.id], limit, cursor)
