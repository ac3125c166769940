"""Reports (举报). Enough reports from trusted members hide the content until a moderator decides.

Each reporter's track record (filed, upheld, dismissed) is kept so staff can see who abuses reporting.
"""

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, case, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum.members import User
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict
from kernel.pagination import Page, keyset_page
from kernel.sql import insert_if_absent, rows_changed
from moderation import queue
from moderation.content import Target, load

REASONS = ("spam", "abuse", "porn", "illegal", "misinformation", "infringement", "other")


class Report(Model):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(500), default="")
    reporter_level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reporter: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("reporter_id", "target_type", "target_id", name="uq_reports_once"),
        Index("ix_reports_target", "target_type", "target_id", "status"),
        Index("ix_reports_status", "status", "id"),
    )


@dataclass
class ReporterRecord:
    filed: int
    upheld: int
    dismissed: int


def file_report(reporter: User, target_type: str, target_id: int, reason: str, detail: str = "") -> Report:
    target = load(target_type, target_id)
    if not target.public:
        raise Conflict("this content is not public", code="not_reportable")
    if target.author_id == reporter.id:
        raise Conflict("you cannot report your own content", code="own_content")
    created = insert_if_absent(
        Report,
        {
            "reporter_id": reporter.id,
            "target_type": target.kind,
            "target_id": target.id,
            "reason": reason,
            "detail": detail.strip(),
            "reporter_level": reporter.level,
            "status": "open",
            "created_at": clock.now(),
        },
    )
    if not created:
        raise Conflict("you already reported this", code="already_reported")
    report = db.session.execute(
        select(Report).where(
            Report.reporter_id == reporter.id, Report.target_type == target.kind, Report.target_id == target.id
        )
    ).scalar_one()
    _maybe_auto_hide(target)
    return report


def _maybe_auto_hide(target: Target) -> None:
    cfg = current_app.config
    trusted = db.session.execute(
        select(func.count(func.distinct(Report.reporter_id))).where(
            Report.target_type == target.kind,
            Report.target_id == target.id,
            Report.status == "open",
            Report.reporter_level >= cfg["REPORT_TRUSTED_LEVEL"],
        )
    ).scalar_one()
    if trusted < cfg["REPORT_AUTO_HIDE_THRESHOLD"]:
        return
    if target.set_visibility("hidden", actor_id=None, reason="auto-hidden after reports"):
        queue.enqueue(
            target.kind,
            target.id,
            reason="reports",
            author_id=target.author_id,
            board_id=target.board_id,
            reports=trusted,
        )
        audit.record(None, "auto_hide", target.kind, target.id, "reports from trusted members", reports=trusted)


def settle(target: Target, upheld: bool) -> int:
    """Close the open reports on a target once a moderator has decided."""
    return rows_changed(
        update(Report)
        .where(Report.target_type == target.kind, Report.target_id == target.id, Report.status == "open")
        .values(status="upheld" if upheld else "dismissed", resolved_at=clock.now())
    )


def list_reports(*, status: str | None, reporter_id: int | None, limit: int, cursor: str | None) -> Page:
    query = select(Report)
    if status:
        query = query.where(Report.status == status)
    if reporter_id is not None:
        query = query.where(Report.reporter_id == reporter_id)
    return keyset_page(query, [Report.id], limit, cursor)


def reporter_records(reporter_ids: list[int]) -> dict[int, ReporterRecord]:
    rows = db.session.execute(
        select(
            Report.reporter_id,
            func.count(Report.id),
            func.sum(case((Report.status == "upheld", 1), else_=0)),
            func.sum(case((Report.status == "dismissed", 1), else_=0)),
        )
        .where(Report.reporter_id.in_(reporter_ids))
        .group_by(Report.reporter_id)
    ).all()
    return {rid: ReporterRecord(int(f), int(u or 0), int(d or 0)) for rid, f, u, d in rows}
