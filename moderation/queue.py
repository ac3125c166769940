"""The review queue: content held before (or taken down pending) a moderator's decision."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.boards import BoardModerator
from forum.members import User
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.pagination import Page, keyset_page

REASONS = ("filter", "new_member", "reports", "idea", "share", "wechat", "media")


class ReviewItem(Model):
    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    board_id: Mapped[int | None] = mapped_column(Integer, index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(12))
    decision_reason: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (
        Index("ix_review_items_open", "status", "id"),
        Index("ix_review_items_subject", "subject_type", "subject_id", "status"),
    )


def open_item(subject_type: str, subject_id: int) -> ReviewItem | None:
    return db.session.scalar(
        select(ReviewItem).where(
            ReviewItem.subject_type == subject_type,
            ReviewItem.subject_id == subject_id,
            ReviewItem.status == "pending",
        )
    )


def enqueue(
    subject_type: str,
    subject_id: int,
    *,
    reason: str,
    author_id: int | None,
    board_id: int | None = None,
    **details: Any,
) -> ReviewItem:
    """One open item per subject: a second reason joins the first instead of queueing the content twice."""
    item = open_item(subject_type, subject_id)
    if item is not None:
        item.details = {**item.details, "also": sorted({*item.details.get("also", []), reason})}
        return item
    item = ReviewItem(
        subject_type=subject_type,
        subject_id=subject_id,
        board_id=board_id,
        author_id=author_id,
        reason=reason,
        details=details,
        status="pending",
        created_at=clock.now(),
        decision_reason="",
    )
    db.session.add(item)
    db.session.flush()
    return item


def resolve(subject_type: str, subject_id: int, actor: User, decision: str, reason: str) -> ReviewItem | None:
    item = open_item(subject_type, subject_id)
    if item is None:
        return None
    item.status, item.decision = "decided", decision
    item.decided_by, item.decided_at, item.decision_reason = actor.id, clock.now(), reason
    return item


def list_items(viewer: User, *, status: str, subject_type: str | None, limit: int, cursor: str | None) -> Page:
    """Global moderators (and operators, who oversee the community) see everything; a board moderator sees only
    items from their boards, and the product team the ideas and what is said about them (ideas belong to no board)."""
    query = select(ReviewItem).where(ReviewItem.status == status)
    if subject_type:
        query = query.where(ReviewItem.subject_type == subject_type)
    if not viewer.has_role("moderator", "operator"):
        boards = select(BoardModerator.board_id).where(BoardModerator.user_id == viewer.id)
        visible: ColumnElement[bool] = ReviewItem.board_id.in_(boards)
        if viewer.has_role("product"):
            visible = visible | ReviewItem.subject_type.in_(IDEA_SUBJECTS)
        query = query.where(visible)
    return keyset_page(query, [ReviewItem.id], limit, cursor)


IDEA_SUBJECTS = ("idea", "idea_comment", "idea_update")


def moderates_any_board(user: User) -> bool:
    return (
        db.session.scalar(select(BoardModerator.board_id).where(BoardModerator.user_id == user.id).limit(1)) is not None
    )
