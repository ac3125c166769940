"""Boards (版块), their moderators, and each board's post list."""

import marshmallow as ma
from flask import Response

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.forum_schemas import PostSummary
from api.pagination import PageArgs, page_of
from api.resources.posts import post_page
from api.schemas import MemberSummary
from forum import boards
from forum.boards import SLUG_RE
from kernel.unit_of_work import reads_only

blp = Blueprint("boards", __name__, url_prefix="/api/v1/boards", description="Boards (版块) and moderators (版主)")


class BoardOut(ma.Schema):
    id = ma.fields.Integer()
    slug = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    position = ma.fields.Integer()
    staff_only = ma.fields.Boolean(metadata={"description": "only staff and this board's moderators may post"})
    post_count = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    moderators = BoundedList(ma.fields.Nested(MemberSummary))


SLUG = ma.validate.Regexp(SLUG_RE, error="2-40 of a-z, 0-9 and -, starting with a letter or digit")


class BoardIn(ma.Schema):
    slug = ma.fields.String(required=True, validate=SLUG)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    position = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=-10000, max=10000))
    staff_only = ma.fields.Boolean(load_default=False)


class BoardPatch(ma.Schema):
    slug = ma.fields.String(validate=SLUG)
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    position = ma.fields.Integer(validate=ma.validate.Range(min=-10000, max=10000))
    staff_only = ma.fields.Boolean()


class BoardList(ma.Schema):
    items = BoundedList(ma.fields.Nested(BoardOut), required=True)


class BoardPostArgs(PageArgs):
    sort = ma.fields.String(load_default="latest", validate=ma.validate.OneOf(("hot", "latest", "featured")))
    tag = ma.fields.String(validate=ma.validate.Length(min=1, max=20))
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100))


def _with_moderators(items: list[boards.Board]) -> list[dict]:
    mods = boards.moderators_of([b.id for b in items])
    return [
        {**{c: getattr(b, c) for c in BoardOut._declared_fields if c != "moderators"}, "moderators": mods[b.id]}
        for b in items
    ]


@blp.route("", methods=["GET"])
@blp.response(200, BoardList)
def list_boards() -> dict:
    """All boards in display order, with their moderators."""
    return {"items": _with_moderators(boards.list_boards())}


@blp.route("", methods=["POST"])
@auth_required(blp, "admin")
@blp.arguments(BoardIn)
@blp.response(201, BoardOut)
@documented_errors(blp, 409)
def create_board(body) -> dict:
    """Create a board (admins)."""
    board = boards.create_board(current_member(), **body)
    return _with_moderators([board])[0]


@blp.route("/<int:board_id>", methods=["GET"])
@blp.response(200, BoardOut)
@documented_errors(blp, 404)
def get_board(board_id: int) -> dict:
    """One board with its moderators."""
    return _with_moderators([boards.get_board(board_id)])[0]


@blp.route("/<int:board_id>", methods=["PATCH"])
@auth_required(blp, "admin")
@blp.arguments(BoardPatch)
@blp.response(200, BoardOut)
@documented_errors(blp, 404, 409)
def update_board(body, board_id: int) -> dict:
    """Rename, reorder, describe or restrict a board (admins)."""
    board = boards.update_board(current_member(), board_id, **body)
    return _with_moderators([board])[0]


@blp.route("/<int:board_id>/moderators/<int:user_id>", methods=["PUT"])
@auth_required(blp, "admin")
@blp.response(200, BoardOut)
@documented_errors(blp, 404)
def assign_moderator(board_id: int, user_id: int) -> dict:
    """Make a member a moderator (版主) of this board (admins); repeating it changes nothing."""
    boards.assign_moderator(current_member(), board_id, user_id)
    return _with_moderators([boards.get_board(board_id)])[0]


@blp.route("/<int:board_id>/moderators/<int:user_id>", methods=["DELETE"])
@auth_required(blp, "admin")
@blp.response(200, BoardOut)
@documented_errors(blp, 404)
def remove_moderator(board_id: int, user_id: int) -> dict:
    """Withdraw a board moderator (admins)."""
    boards.remove_moderator(current_member(), board_id, user_id)
    return _with_moderators([boards.get_board(board_id)])[0]


@blp.route("/<int:board_id>/posts", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(BoardPostArgs, location="query")
@blp.response(200, page_of(PostSummary))
@documented_errors(blp, 400, 404)
@reads_only
def board_posts(args, board_id: int) -> Response:
    """A board's posts: pinned first, then hot | latest | featured; optional tag and keyword filters."""
    boards.get_board(board_id)
    return post_page(current_viewer(), board_id=board_id, **args)
