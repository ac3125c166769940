"""Reports, the review queue, moderator actions, sanctions, the word list and the audit log."""

from typing import Any

import marshmallow as ma
from sqlalchemy import select

from api.auth import auth_required, current_member
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.ids import MAX_ID
from api.limits import action_limited
from api.pagination import PageArgs, page_body, page_of
from api.schemas import MemberSummary
from forum.members import User
from forum.text import excerpt
from kernel import audit
from kernel.db import db
from kernel.errors import Forbidden
from moderation import actions, content, queue, reports, sanctions, words
from moderation.reports import Report
from moderation.sanctions import Sanction

blp = Blueprint("moderation", __name__, url_prefix="/api/v1", description="Moderation")


class ReportIn(ma.Schema):
    target_type = ma.fields.String(
        required=True, validate=ma.validate.OneOf(("post", "reply", "idea", "idea_comment", "idea_update"))
    )
    target_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    reason = ma.fields.String(required=True, validate=ma.validate.OneOf(reports.REASONS))
    detail = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class ReporterRecordOut(ma.Schema):
    filed = ma.fields.Integer()
    upheld = ma.fields.Integer()
    dismissed = ma.fields.Integer()


class ReportOut(ma.Schema):
    id = ma.fields.Integer()
    target_type = ma.fields.String()
    target_id = ma.fields.Integer()
    reason = ma.fields.String()
    detail = ma.fields.String()
    status = ma.fields.String(metadata={"description": "open, upheld or dismissed"})
    created_at = ma.fields.DateTime()


class StaffReportOut(ReportOut):
    reporter = ma.fields.Nested(MemberSummary)
    reporter_level = ma.fields.Integer()
    reporter_record = ma.fields.Nested(ReporterRecordOut, metadata={"description": "to spot report abuse"})


class ReportListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(("open", "upheld", "dismissed")))
    reporter_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))


class QueueArgs(PageArgs):
    status = ma.fields.String(load_default="pending", validate=ma.validate.OneOf(("pending", "decided")))
    subject_type = ma.fields.String(validate=ma.validate.OneOf((*content.TARGET_TYPES, "share")))


class QueueSubject(ma.Schema):
    title = ma.fields.String(allow_none=True)
    excerpt = ma.fields.String(allow_none=True)
    status = ma.fields.String(allow_none=True)
    post_id = ma.fields.Integer(allow_none=True)


class QueueItemOut(ma.Schema):
    id = ma.fields.Integer()
    subject_type = ma.fields.String()
    subject_id = ma.fields.Integer()
    board_id = ma.fields.Integer(allow_none=True)
    author = ma.fields.Nested(MemberSummary, allow_none=True)
    reason = ma.fields.String(metadata={"description": ", ".join(queue.REASONS)})
    details = ma.fields.Dict()
    status = ma.fields.String()
    decision = ma.fields.String(allow_none=True)
    decision_reason = ma.fields.String()
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)
    subject = ma.fields.Nested(QueueSubject)


class ActionIn(ma.Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(actions.POST_ACTIONS))
    target_type = ma.fields.String(required=True, validate=ma.validate.OneOf(content.TARGET_TYPES))
    target_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    board_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID), metadata={"description": "for move"})


class ActionOut(ma.Schema):
    action = ma.fields.String()
    target_type = ma.fields.String()
    target_id = ma.fields.Integer()
    status = ma.fields.String()
    board_id = ma.fields.Integer()
    pinned = ma.fields.Boolean(allow_none=True)
    featured = ma.fields.Boolean(allow_none=True)
    locked = ma.fields.Boolean(allow_none=True)
    audit_id = ma.fields.Integer()


class SanctionIn(ma.Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(sanctions.KINDS))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    hours = ma.fields.Integer(validate=ma.validate.Range(min=1, max=24 * 365), metadata={"description": "mute"})


class SanctionOut(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    kind = ma.fields.String()
    reason = ma.fields.String()
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime(allow_none=True)
    created_by = ma.fields.Integer(allow_none=True)


class WordEntry(ma.Schema):
    word = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(words.ACTIONS))


class WordList(ma.Schema):
    items = BoundedList(ma.fields.Nested(WordEntry), required=True, validate=ma.validate.Length(max=20000))


class AuditArgs(PageArgs):
    actor_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))
    action = ma.fields.String(validate=ma.validate.Length(max=40))
    target_type = ma.fields.String(validate=ma.validate.Length(max=32))
    target_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))


class AuditOut(ma.Schema):
    id = ma.fields.Integer()
    actor = ma.fields.Nested(MemberSummary, allow_none=True, metadata={"description": "null for the system"})
    action = ma.fields.String()
    target_type = ma.fields.String()
    target_id = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String()
    details = ma.fields.Dict()
    created_at = ma.fields.DateTime()


def _require_queue_access(user: User) -> None:
    # Operators run the community: they see the queue (deciding stays with moderators and the product team).
    if not (user.has_role("moderator", "product", "operator") or queue.moderates_any_board(user)):
        raise Forbidden("moderators only", code="role_required", details={"roles": ["moderator"]})


def _subject(item: queue.ReviewItem, found: dict[tuple[str, int], Any]) -> dict:
    """How the queue shows an item's subject, found among the page's (content.load_many)."""
    subject = found.get((item.subject_type, item.subject_id))
    if subject is None:
        return {"title": None, "excerpt": None, "status": None, "post_id": None}
    if item.subject_type == "post":
        return {
            "title": subject.title,
            "excerpt": excerpt(subject.body),
            "status": subject.status,
            "post_id": subject.id,
        }
    if item.subject_type == "reply":
        return {"title": None, "excerpt": excerpt(subject.body), "status": subject.status, "post_id": subject.post_id}
    if item.subject_type == "idea":
        return {
            "title": subject.title,
            "excerpt": excerpt(subject.description),
            "status": subject.status,
            "post_id": None,
        }
    title = subject.title if item.subject_type == "idea_update" else None
    return {"title": title, "excerpt": excerpt(subject.body), "status": subject.status, "post_id": None}


@blp.route("/reports", methods=["POST"])
@auth_required(blp)
@action_limited(blp, "report")
@blp.arguments(ReportIn)
@blp.response(201, ReportOut)
@documented_errors(blp, 404, 409)
def file_report(body) -> Report:
    """举报 a post or reply. Enough reports from trusted members hide it until a moderator decides."""
    report = reports.file_report(current_member(), **body)
    return report


@blp.route("/moderation/reports", methods=["GET"])
@auth_required(blp, "moderator", "operator")
@blp.arguments(ReportListArgs, location="query")
@blp.response(200, page_of(StaffReportOut))
@documented_errors(blp, 400)
def list_reports(args) -> dict:
    """Reports with each reporter's record (filed / upheld / dismissed), so report abuse is visible."""
    page = reports.list_reports(
        status=args.get("status"), reporter_id=args.get("reporter_id"), limit=args["limit"], cursor=args["cursor"]
    )
    records = reports.reporter_records(list({r.reporter_id for r in page.items}))
    return page_body(
        page,
        lambda r: {
            **{k: getattr(r, k) for k in StaffReportOut._declared_fields if k != "reporter_record"},
            "reporter_record": records[r.reporter_id],
        },
    )


@blp.route("/moderation/queue", methods=["GET"])
@auth_required(blp)
@blp.arguments(QueueArgs, location="query")
@blp.response(200, page_of(QueueItemOut))
@documented_errors(blp, 400)
def review_queue(args) -> dict:
    """Content waiting for a decision; board moderators see their boards only."""
    viewer = current_member()
    _require_queue_access(viewer)
    page = queue.list_items(
        viewer, status=args["status"], subject_type=args.get("subject_type"), limit=args["limit"], cursor=args["cursor"]
    )
    authors = {u.id: u for u in db.session.query(User).filter(User.id.in_({i.author_id for i in page.items}))}
    subjects = content.load_many((i.subject_type, i.subject_id) for i in page.items)
    return page_body(
        page,
        lambda i: {
            **{k: getattr(i, k) for k in QueueItemOut._declared_fields if k not in ("author", "subject")},
            "author": authors.get(i.author_id),
            "subject": _subject(i, subjects),
        },
    )


@blp.route("/moderation/actions", methods=["POST"])
@auth_required(blp)
@blp.arguments(ActionIn)
@blp.response(200, ActionOut)
@documented_errors(blp, 404, 409)
def moderation_action(body) -> dict:
    """approve, reject, hide, restore, delete, lock, unlock, pin, unpin, feature (加精), unfeature, move.

    Board moderators act in their boards only; replies take approve/reject/hide/restore/delete. Audited.
    """
    result = actions.perform(
        current_member(), body["action"], body["target_type"], body["target_id"], body["reason"], body.get("board_id")
    )
    obj = result.target.obj
    return {
        "action": result.action,
        "target_type": result.target.kind,
        "target_id": obj.id,
        "status": obj.status,
        "board_id": result.target.board_id,
        "pinned": getattr(obj, "pinned", None),
        "featured": getattr(obj, "featured", None),
        "locked": getattr(obj, "locked", None),
        "audit_id": result.audit_id,
    }


@blp.route("/users/<int:user_id>/sanctions", methods=["POST"])
@auth_required(blp, "moderator")
@blp.arguments(SanctionIn)
@blp.response(201, SanctionOut)
@documented_errors(blp, 404, 409)
def sanction(body, user_id: int) -> Sanction:
    """Mute (禁言, moderators) for some hours, ban (admins, ends all sessions), or lift either. Audited."""
    record = sanctions.apply(current_member(), user_id, body["kind"], body["reason"], body.get("hours"))
    return record


@blp.route("/users/<int:user_id>/sanctions", methods=["GET"])
@auth_required(blp, "moderator", "operator")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(SanctionOut))
@documented_errors(blp, 400, 404)
def sanction_history(args, user_id: int) -> dict:
    """A member's sanctions, newest first."""
    return page_body(sanctions.history(user_id, args["limit"], args["cursor"]))


@blp.route("/moderation/words", methods=["GET"])
@auth_required(blp, "operator")
@blp.response(200, WordList)
def get_words() -> dict:
    """The sensitive-word list (operators)."""
    return {"items": words.list_words()}


@blp.route("/moderation/words", methods=["PUT"])
@auth_required(blp, "operator")
@blp.arguments(WordList)
@blp.response(200, WordList)
def put_words(body) -> dict:
    """Replace the sensitive-word list: each word blocks (422), holds for review, or is masked with ＊."""
    member = current_member()
    result = words.replace_words(member, [(e["word"], e["action"]) for e in body["items"]])
    return {"items": result}


@blp.route("/moderation/audit", methods=["GET"])
@auth_required(blp, "admin")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, page_of(AuditOut))
@documented_errors(blp, 400)
def audit_log(args) -> dict:
    """Every staff action, newest first (admins). Entries are never changed or removed."""
    filters = {k: args.get(k) for k in ("actor_id", "action", "target_type", "target_id")}
    page = audit.search(**filters, limit=args["limit"], cursor=args["cursor"])
    ids = {entry.actor_id for entry in page.items if entry.actor_id is not None}
    actors = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return page_body(page, lambda entry: {**_columns(entry), "actor": actors.get(entry.actor_id)})


def _columns(entry: audit.AuditEntry) -> dict:
    return {column.key: getattr(entry, column.key) for column in audit.AuditEntry.__table__.columns}
