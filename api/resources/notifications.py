"""The signed-in member's notifications."""

import marshmallow as ma

from api.auth import auth_required, current_member
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.ids import MAX_ID
from api.pagination import PageArgs
from api.schemas import MemberSummary
from forum import notifications, subscribe_messages

blp = Blueprint("notifications", __name__, url_prefix="/api/v1/me", description="Notifications")


class NotificationOut(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": ", ".join(notifications.KINDS)})
    actor = ma.fields.Nested(MemberSummary, allow_none=True)
    subject_type = ma.fields.String(allow_none=True)
    subject_id = ma.fields.Integer(allow_none=True)
    post_id = ma.fields.Integer(allow_none=True)
    message = ma.fields.String()
    created_at = ma.fields.DateTime()
    read_at = ma.fields.DateTime(allow_none=True)


class NotificationPage(ma.Schema):
    items = BoundedList(ma.fields.Nested(NotificationOut), required=True)
    next_cursor = ma.fields.String(required=True, allow_none=True)
    unread_count = ma.fields.Integer(required=True)


class InboxArgs(PageArgs):
    unread = ma.fields.Boolean(load_default=False, metadata={"description": "only unread ones"})


class MarkReadIn(ma.Schema):
    ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)),
        load_default=None,
        validate=ma.validate.Length(min=1, max=500),
        metadata={"description": "omit to mark everything read"},
    )


class MarkReadOut(ma.Schema):
    marked = ma.fields.Integer(required=True)
    unread_count = ma.fields.Integer(required=True)


@blp.route("/notifications", methods=["GET"])
@auth_required(blp)
@blp.arguments(InboxArgs, location="query")
@blp.response(200, NotificationPage)
@documented_errors(blp, 400)
def inbox(args) -> dict:
    """Newest first, with the unread count."""
    member = current_member()
    page = notifications.inbox(member, args["limit"], args["cursor"], unread_only=args["unread"])
    return {"items": page.items, "next_cursor": page.next_cursor, "unread_count": notifications.unread_count(member)}


@blp.route("/notifications/read", methods=["POST"])
@auth_required(blp)
@blp.arguments(MarkReadIn, required=False)
@blp.response(200, MarkReadOut)
def mark_read(body) -> dict:
    """Mark some (ids) or all notifications read."""
    member = current_member()
    marked = notifications.mark_read(member, body["ids"])
    return {"marked": marked, "unread_count": notifications.unread_count(member)}


class TemplateOut(ma.Schema):
    topic = ma.fields.String(metadata={"description": "the kind of notice, e.g. balance_due, order_shipped"})
    template_id = ma.fields.String()
    remaining = ma.fields.Integer(metadata={"description": "messages you have allowed and not yet received"})


class SubscriptionsOut(ma.Schema):
    items = BoundedList(ma.fields.Nested(TemplateOut), required=True)
    ignored = BoundedList(
        ma.fields.String(), metadata={"description": "reported template ids this mini-program does not use"}
    )


class ConsentsIn(ma.Schema):
    accepted = BoundedList(
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
        required=True,
        validate=ma.validate.Length(min=1, max=20),
        metadata={"description": "template ids the member accepted in wx.requestSubscribeMessage"},
    )


def _subscriptions(member, ignored: list[str] | None = None) -> dict:
    remaining = {c.template_id: c.remaining for c in subscribe_messages.my_consents(member)}
    return {
        "ignored": ignored or [],
        "items": [
            {"topic": topic, "template_id": spec["template_id"], "remaining": remaining.get(spec["template_id"], 0)}
            for topic, spec in sorted(subscribe_messages.templates().items())
        ],
    }


@blp.route("/wechat/subscriptions", methods=["GET"])
@auth_required(blp)
@blp.response(200, SubscriptionsOut)
def subscriptions() -> dict:
    """The WeChat subscribe-message templates this mini-program uses, and how many of each you have allowed:
    ask for a template with `wx.requestSubscribeMessage` before the notice it carries."""
    return _subscriptions(current_member())


@blp.route("/wechat/subscriptions", methods=["POST"])
@auth_required(blp)
@blp.arguments(ConsentsIn)
@blp.response(200, SubscriptionsOut)
def record_consents(body) -> dict:
    """Report what `wx.requestSubscribeMessage` answered with "accept": each acceptance allows one message."""
    member = current_member()
    ignored = subscribe_messages.record_consents(member, body["accepted"])
    return _subscriptions(member, ignored)
