"""Sanctions: mute (禁言) for a duration, ban, and lifting either. Every one is audited."""

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from c2b import ideas
from forum import auth_sessions
from forum.members import User, get_user
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from kernel.pagination import Page, keyset_page

KINDS = ("mute", "unmute", "ban", "unban")
RANK = {"member": 0, "product": 1, "operator": 1, "moderator": 2, "admin": 3}


class Sanction(Model):
    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_sanctions_user", "user_id", "id"),)


def _authorise(actor: User, target: User, kind: str) -> None:
    needed = "admin" if kind in ("ban", "unban") else "moderator"
    actor.ensure_role(needed, doing=kind)
    if target.id == actor.id:
        raise Conflict("you cannot sanction yourself", code="self_sanction")
    if RANK.get(target.role, 0) >= RANK.get(actor.role, 0):
        raise Forbidden("you cannot sanction a member of equal or higher rank", code="rank_protected")


def apply(actor: User, user_id: int, kind: str, reason: str, hours: int | None = None) -> Sanction:
    if kind not in KINDS:
        raise ValidationFailed("unknown sanction", details={"kind": [f"one of {', '.join(KINDS)}"]})
    if not reason.strip():
        raise ValidationFailed("a reason is required", details={"reason": ["required"]})
    target = get_user(user_id)
    _authorise(actor, target, kind)
    now = clock.now()
    ends_at = None
    if kind == "mute":
        if not hours or not 1 <= hours <= 24 * 365:
            raise ValidationFailed("mute needs a duration", details={"hours": ["1 to 8760"]})
        ends_at = now + timedelta(hours=hours)
        target.muted_until = ends_at
    elif kind == "unmute":
        target.muted_until = None
    elif kind == "ban":
        target.banned_at = now
        auth_sessions.revoke_all(target.id, reason="banned")  # a ban ends every signed-in session at once
    else:
        target.banned_at = None
    sanction = Sanction(
        user_id=target.id, kind=kind, reason=reason.strip(), starts_at=now, ends_at=ends_at, created_by=actor.id
    )
    db.session.add(sanction)
    db.session.flush()
    if kind in ("ban", "unban"):
        ideas.recount_member(target.id, now)  # a banned member's supports stop counting (and count again after)
    audit.record(
        actor, f"sanction.{kind}", "user", target.id, reason.strip(), ends_at=ends_at.isoformat() if ends_at else None
    )
    return sanction


def history(user_id: int, limit: int, cursor: str | None) -> Page[Sanction]:
    """Newest first."""
    get_user(user_id)
    return keyset_page(select(Sanction).where(Sanction.user_id == user_id), [Sanction.id], limit, cursor)
