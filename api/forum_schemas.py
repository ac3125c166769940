"""Schemas and presenters for forum content."""

import marshmallow as ma

from api.fields import BoundedList
from api.schemas import MemberSummary, badge_out
from forum.text import excerpt, render_html


class ShowcaseBadge(ma.Schema):
    slug = ma.fields.String()
    name = ma.fields.String()
    tier = ma.fields.String()
    image_url = ma.fields.String()


class AuthorSummary(MemberSummary):
    level = ma.fields.Integer()
    showcase = BoundedList(ma.fields.Nested(ShowcaseBadge), metadata={"description": "pinned badges (≤3)"})


class ImageOut(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    thumb_url = ma.fields.String()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    mime = ma.fields.String()
    check = ma.fields.String(
        metadata={"description": "unchecked, pending, pass, review or risky: only unchecked and pass are served"}
    )


class ViewerState(ma.Schema):
    liked = ma.fields.Boolean()
    favorited = ma.fields.Boolean()


class PostSummary(ma.Schema):
    id = ma.fields.Integer()
    board_id = ma.fields.Integer()
    title = ma.fields.String()
    excerpt = ma.fields.String()
    author = ma.fields.Nested(AuthorSummary)
    tags = BoundedList(ma.fields.String())
    images = BoundedList(ma.fields.Nested(ImageOut))
    status = ma.fields.String(metadata={"description": "published, pending_review, hidden or deleted"})
    pinned = ma.fields.Boolean()
    featured = ma.fields.Boolean()
    locked = ma.fields.Boolean()
    reply_count = ma.fields.Integer()
    like_count = ma.fields.Integer()
    favorite_count = ma.fields.Integer()
    view_count = ma.fields.Integer()
    hot_score = ma.fields.Float()
    created_at = ma.fields.DateTime()
    edited_at = ma.fields.DateTime(allow_none=True)
    last_activity_at = ma.fields.DateTime()
    viewer = ma.fields.Nested(ViewerState, allow_none=True, metadata={"description": "null when signed out"})


class PostDetail(PostSummary):
    body = ma.fields.String(metadata={"description": "the text as written (plain text / markdown subset)"})
    body_html = ma.fields.String(metadata={"description": "safe HTML rendering: escaped text plus the subset"})


class QuoteOut(ma.Schema):
    reply_id = ma.fields.Integer()
    floor = ma.fields.Integer()
    author = ma.fields.Nested(MemberSummary, allow_none=True)
    excerpt = ma.fields.String(allow_none=True)


class ReplyViewerState(ma.Schema):
    liked = ma.fields.Boolean()
    applauded = ma.fields.Boolean()


class ReplyOut(ma.Schema):
    id = ma.fields.Integer()
    post_id = ma.fields.Integer()
    floor = ma.fields.Integer(metadata={"description": "楼层: 1, 2, 3… never reused"})
    status = ma.fields.String()
    author = ma.fields.Nested(AuthorSummary, allow_none=True, metadata={"description": "null on removed floors"})
    body = ma.fields.String(allow_none=True)
    body_html = ma.fields.String(allow_none=True)
    quote = ma.fields.Nested(QuoteOut, allow_none=True)
    like_count = ma.fields.Integer()
    applause_count = ma.fields.Integer(metadata={"description": "拍一拍 received: a quality signal"})
    created_at = ma.fields.DateTime()
    edited_at = ma.fields.DateTime(allow_none=True)
    viewer = ma.fields.Nested(ReplyViewerState, allow_none=True)


def image_out(media) -> dict:
    return {
        "id": media.id,
        "url": f"/api/v1/media/{media.id}",
        "thumb_url": f"/api/v1/media/{media.id}?size=thumb",
        "width": media.width,
        "height": media.height,
        "mime": media.mime,
        "check": media.check_status,
    }


def author_out(user, showcase: dict[int, list] | None) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "level": user.level,
        "showcase": [badge_out(b) for b in (showcase or {}).get(user.id, [])],
    }


def present_post(
    post,
    *,
    liked: set[int] | None = None,
    faved: set[int] | None = None,
    views: int = 0,
    full: bool = False,
    signed_in: bool = False,
    showcase: dict[int, list] | None = None,
) -> dict:
    data = {
        "id": post.id,
        "board_id": post.board_id,
        "title": post.title,
        "excerpt": excerpt(post.body),
        "author": author_out(post.author, showcase),
        "tags": post.tag_names,
        "images": [image_out(m) for m in post.images],
        "status": post.status,
        "pinned": post.pinned,
        "featured": post.featured,
        "locked": post.locked,
        "reply_count": post.reply_count,
        "like_count": post.like_count,
        "favorite_count": post.favorite_count,
        "view_count": post.view_count + views,
        "hot_score": post.hot_score,
        "created_at": post.created_at,
        "edited_at": post.edited_at,
        "last_activity_at": post.last_activity_at,
        "viewer": (
            {"liked": post.id in (liked or set()), "favorited": post.id in (faved or set())} if signed_in else None
        ),
    }
    if full:
        data["body"] = post.body
        data["body_html"] = render_html(post.body)
    return data


def present_reply(
    reply,
    *,
    visible: bool,
    liked: set[int] | None = None,
    applauded: set[int] | None = None,
    signed_in: bool = False,
    showcase: dict[int, list] | None = None,
) -> dict:
    quote = None
    if reply.quote is not None:
        shown = reply.quote.status == "published"
        quote = {
            "reply_id": reply.quote.id,
            "floor": reply.quote.floor,
            "author": reply.quote.author if shown else None,
            "excerpt": excerpt(reply.quote.body, 80) if shown else None,
        }
    return {
        "id": reply.id,
        "post_id": reply.post_id,
        "floor": reply.floor,
        "status": reply.status,
        "author": author_out(reply.author, showcase) if visible else None,
        "body": reply.body if visible else None,
        "body_html": render_html(reply.body) if visible else None,
        "quote": quote,
        "like_count": reply.like_count,
        "applause_count": reply.applause_count,
        "created_at": reply.created_at,
        "edited_at": reply.edited_at,
        "viewer": (
            {"liked": reply.id in (liked or set()), "applauded": reply.id in (applauded or set())}
            if signed_in
            else None
        ),
    }
