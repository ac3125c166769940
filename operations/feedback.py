"""Product feedback: members submit, operators forward to the product team, the product team replies.

Every step is kept as history the submitter can read; the reply notifies them.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.members import User
from forum.notifications import notify
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Forbidden
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, move_or_refuse

STATUSES = ("submitted", "forwarded", "answered", "closed")


class Feedback(Model):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    reply: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    history: Mapped[list["FeedbackStep"]] = relationship(order_by="FeedbackStep.id", lazy="selectin")

    __table_args__ = (Index("ix_feedback_status", "status", "id"), Index("ix_feedback_user", "user_id", "id"))


class FeedbackStep(Model):
    __tablename__ = "feedback_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _step(feedback: Feedback, actor: User, action: str, note: str = "") -> None:
    """The feedback's own history; what staff do to it is also in the audit log."""
    db.session.add(
        FeedbackStep(feedback_id=feedback.id, actor_id=actor.id, action=action, note=note, created_at=clock.now())
    )
    if actor.is_staff:
        audit.record(actor, f"feedback.{action}", "feedback", feedback.id, note[:500])


def submit(member: User, product: str, body: str) -> Feedback:
    now = clock.now()
    feedback = Feedback(
        user_id=member.id,
        product=product.strip(),
        body=body.strip(),
        status="submitted",
        reply="",
        created_at=now,
        updated_at=now,
    )
    db.session.add(feedback)
    db.session.flush()
    _step(feedback, member, "submitted")
    db.session.flush()
    db.session.refresh(feedback)
    return feedback


def visible(viewer: User, feedback_id: int) -> Feedback:
    staff = viewer.has_role("operator", "product")
    return get_or_404(
        Feedback, feedback_id, "feedback", visible=lambda feedback: staff or feedback.user_id == viewer.id
    )


def listing(viewer: User, status: str | None, limit: int, cursor: str | None) -> Page:
    query = select(Feedback)
    if not viewer.has_role("operator", "product"):
        query = query.where(Feedback.user_id == viewer.id)
    elif viewer.has_role("product") and not viewer.has_role("operator"):
        query = query.where(Feedback.status.in_(("forwarded", "answered", "closed")))
    if status:
        query = query.where(Feedback.status == status)
    return keyset_page(query, [Feedback.id], limit, cursor)


def _move(feedback: Feedback, sources: tuple[str, ...], to: str, **values) -> None:
    move_or_refuse(feedback, to, sources=sources, what="feedback", updated_at=clock.now(), **values)


def forward(actor: User, feedback_id: int, note: str) -> Feedback:
    actor.ensure_role("operator", doing="forward feedback")
    feedback = visible(actor, feedback_id)
    _move(feedback, ("submitted",), "forwarded")
    _step(feedback, actor, "forwarded", note.strip())
    return feedback


def reply(actor: User, feedback_id: int, text: str) -> Feedback:
    actor.ensure_role("product", doing="reply to feedback")
    feedback = visible(actor, feedback_id)
    _move(feedback, ("forwarded", "answered"), "answered", reply=text.strip())
    _step(feedback, actor, "answered", text.strip())
    notify(
        feedback.user_id,
        "system",
        actor_id=actor.id,
        subject=("feedback", feedback.id),
        message=f"产品团队回复了你关于「{feedback.product}」的反馈",
    )
    db.session.flush()
    db.session.refresh(feedback)
    return feedback


def close(actor: User, feedback_id: int) -> Feedback:
    feedback = visible(actor, feedback_id)
    if feedback.user_id != actor.id and not actor.has_role("operator"):
        raise Forbidden("only the submitter or an operator closes feedback", code="not_allowed")
    _move(feedback, ("submitted", "forwarded", "answered"), "closed")
    _step(feedback, actor, "closed")
    db.session.flush()
    db.session.refresh(feedback)
    return feedback
