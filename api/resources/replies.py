"""Replies (floors), their likes and 拍一拍."""

import marshmallow as ma

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.forum_schemas import ReplyOut, present_reply
from api.ids import MAX_ID
from api.limits import action_limited
from api.pagination import PageArgs, page_body, page_of
from api.resources.posts import LikeOut, RemovalArgs
from economy import badges
from forum import reactions, replies
from forum.posts import visible_post
from moderation import publishing

blp = Blueprint("replies", __name__, url_prefix="/api/v1", description="Replies (楼层), likes and 拍一拍")


class ReplyIn(ma.Schema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10000))
    quote_reply_id = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID)
    )


class ReplyPatch(ma.Schema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10000))


class ApplauseOut(ma.Schema):
    applauded = ma.fields.Boolean(required=True)
    applause_count = ma.fields.Integer(required=True)


def _present(reply, viewer) -> dict:
    liked, applauded = reactions.reply_viewer_state(viewer, [reply.id])
    return present_reply(reply, visible=True, liked=liked, applauded=applauded, signed_in=viewer is not None)


@blp.route("/posts/<int:post_id>/replies", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ReplyOut))
@documented_errors(blp, 400, 404)
def list_replies(args, post_id: int) -> dict:
    """Replies in floor order; removed floors appear as tombstones without author or body."""
    viewer = current_viewer()
    post = visible_post(post_id, viewer)
    page = replies.list_replies(post.id, viewer, args["limit"], args["cursor"], badges.PINNED_OF_REPLY_AUTHOR)
    liked, applauded = reactions.reply_viewer_state(viewer, [f.reply.id for f in page.items])
    showcase = {f.reply.author_id: badges.pinned_from(f.beside_author) for f in page.items}
    return page_body(
        page,
        lambda f: present_reply(
            f.reply,
            visible=replies.shows_body(f.reply, viewer, post.board_id),
            liked=liked,
            applauded=applauded,
            signed_in=viewer is not None,
            showcase=showcase,
        ),
    )


@blp.route("/posts/<int:post_id>/replies", methods=["POST"])
@auth_required(blp)
@action_limited(blp, "reply")
@blp.arguments(ReplyIn, example={"body": "灯光效果太棒了！@xiaoming 用的是哪款 LED 套件？", "quote_reply_id": None})
@blp.response(201, ReplyOut)
@documented_errors(blp, 404, 409)
def create_reply(body, post_id: int) -> dict:
    """Reply on the next floor, optionally quoting another reply of the same post; @username mentions notify."""
    member = current_member()
    reply = publishing.submit_reply(member, post_id, body["body"], body["quote_reply_id"])
    return _present(reply, member)


@blp.route("/replies/<int:reply_id>", methods=["PATCH"])
@auth_required(blp)
@blp.arguments(ReplyPatch)
@blp.response(200, ReplyOut)
@documented_errors(blp, 404, 409)
def update_reply(body, reply_id: int) -> dict:
    """Edit your own reply."""
    member = current_member()
    reply = publishing.edit_reply(member, reply_id, body["body"])
    return _present(reply, member)


@blp.route("/replies/<int:reply_id>", methods=["DELETE"])
@auth_required(blp)
@blp.arguments(RemovalArgs, location="query")
@blp.response(204)
@documented_errors(blp, 404)
def delete_reply(args, reply_id: int) -> None:
    """Delete a reply (its author, or a moderator of the board); its floor number stays taken."""
    replies.delete_reply(current_member(), reply_id, args["reason"])


@blp.route("/replies/<int:reply_id>/like", methods=["PUT"])
@auth_required(blp)
@action_limited(blp, "like")
@blp.response(200, LikeOut)
@documented_errors(blp, 404, 409)
def like_reply(reply_id: int) -> dict:
    """Like a reply (idempotent; not your own)."""
    state = reactions.like_reply(current_member(), reply_id)
    return {"liked": state.active, "like_count": state.count}


@blp.route("/replies/<int:reply_id>/like", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, LikeOut)
@documented_errors(blp, 404)
def unlike_reply(reply_id: int) -> dict:
    """Withdraw a like on a reply (idempotent)."""
    state = reactions.unlike_reply(current_member(), reply_id)
    return {"liked": state.active, "like_count": state.count}


@blp.route("/replies/<int:reply_id>/applause", methods=["PUT"])
@auth_required(blp)
@action_limited(blp, "like")
@blp.response(200, ApplauseOut)
@documented_errors(blp, 404, 409)
def applaud_reply(reply_id: int) -> dict:
    """拍一拍: applaud a reply that moved you. Once per reply, never your own; it cannot be taken back."""
    state = reactions.applaud_reply(current_member(), reply_id)
    return {"applauded": state.active, "applause_count": state.count}
