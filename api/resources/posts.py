"""Posts, their likes and favourites, and post lists (global, per member, favourites)."""

import contextlib
import json
from collections.abc import Callable

import marshmallow as ma
from flask import Flask, Response, current_app, request

from api.anonymous_pages import cacheable_address
from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.forum_schemas import PostDetail, PostSummary, present_post
from api.ids import MAX_ID
from api.json import encoded
from api.limits import action_limited
from api.pagination import PageArgs, page_body, page_of
from economy import badges
from forum import feed_cache, feeds, posts, reactions, view_counts
from forum.members import get_user
from kernel.store import StoreUnavailable, current_store
from kernel.unit_of_work import reads_only, transaction
from moderation import publishing

blp = Blueprint("posts", __name__, url_prefix="/api/v1", description="Posts, likes and favourites")


class PostListArgs(PageArgs):
    sort = ma.fields.String(load_default="latest", validate=ma.validate.OneOf(feeds.SORTS))
    tag = ma.fields.String(validate=ma.validate.Length(min=1, max=20))
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100), metadata={"description": "keyword"})
    board_id = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))


class PostIn(ma.Schema):
    board_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))
    tags = BoundedList(
        ma.fields.String(validate=ma.validate.Length(min=1, max=20)),
        load_default=list,
        validate=ma.validate.Length(max=5),
    )
    image_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)),
        load_default=list,
        validate=ma.validate.Length(max=9),
    )


class PostPatch(ma.Schema):
    title = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    body = ma.fields.String(validate=ma.validate.Length(min=1, max=20000))
    tags = BoundedList(ma.fields.String(validate=ma.validate.Length(min=1, max=20)), validate=ma.validate.Length(max=5))
    image_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)), validate=ma.validate.Length(max=9)
    )


class RemovalArgs(ma.Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class LikeOut(ma.Schema):
    liked = ma.fields.Boolean(required=True)
    like_count = ma.fields.Integer(required=True)


class FavoriteOut(ma.Schema):
    favorited = ma.fields.Boolean(required=True)
    favorite_count = ma.fields.Integer(required=True)


def post_page(viewer, **filters) -> Response:
    """A feed page. Pages are cached briefly in the store (FEED_CACHE_SECONDS) under the address asked for (when its
    query holds only the view's arguments), as the JSON a signed-out reader gets: a signed-out reader's repeat is
    answered from there before Flask runs (api/anonymous_pages.py); a signed-in reader's like/favourite marks are
    added to it. Keyword searches are never cached. Presented as plain dicts and encoded once: no schema walks the
    rows of a hot read."""
    built: list[dict] = []

    def build() -> bytes:
        page = feeds.list_posts(**filters, beside_author=badges.PINNED_OF_MEMBER)
        built.append(present_page(None, page, {p.author_id: badges.pinned_from(p.beside_author) for p in page.items}))
        return encoded(built[0])

    address = None if filters.get("q") else cacheable_address(request, filters)
    page, _ = _cached_or_built(address, build)
    if viewer is None:
        return _json(page)
    return _personalised(built[0] if built else json.loads(page), viewer)


def _cached_or_built(address: str | None, build: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The signed-out page at this address from the cache (FEED_CACHE_SECONDS), else built now and kept, tagged with
    the generation read before building; and whether it came from the cache. No address, no cache: built."""
    ttl = current_app.config["FEED_CACHE_SECONDS"]
    if not ttl or address is None:
        return build(), False
    try:
        cached, generation = feed_cache.cached_page(current_store(), address)
    except StoreUnavailable:
        return build(), False
    if cached is not None:
        return cached, True
    page = build()
    with contextlib.suppress(StoreUnavailable):
        feed_cache.keep_page(current_store(), address, generation, page, ttl)
    return page, False


def _json(page: str | bytes) -> Response:
    return current_app.response_class(page, mimetype="application/json")


def _personalised(body: dict, viewer) -> Response:
    liked, faved = reactions.viewer_state(viewer, [item["id"] for item in body["items"]])
    for item in body["items"]:
        item["viewer"] = {"liked": item["id"] in liked, "favorited": item["id"] in faved}
    return _json(current_app.json.dumps(body))


def present_page(viewer, page, showcase: dict[int, list] | None = None) -> dict:
    """A page of posts; its authors' pinned badges are read here unless the page brought them (`showcase`)."""
    liked, faved = reactions.viewer_state(viewer, [p.id for p in page.items])
    if showcase is None:
        showcase = badges.pinned_badges(list({p.author_id for p in page.items}))
    return page_body(
        page, lambda p: present_post(p, liked=liked, faved=faved, signed_in=viewer is not None, showcase=showcase)
    )


def _detail(post, viewer, views: int = 0, showcase: dict[int, list] | None = None) -> dict:
    liked, faved = reactions.viewer_state(viewer, [post.id])
    return present_post(
        post,
        liked=liked,
        faved=faved,
        views=views,
        full=True,
        signed_in=viewer is not None,
        showcase=badges.pinned_badges([post.author_id]) if showcase is None else showcase,
    )


@blp.route("/posts", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(PostListArgs, location="query")
@blp.response(200, page_of(PostSummary))
@documented_errors(blp, 400)
@reads_only
def list_posts(args) -> Response:
    """All boards' posts: hot | latest | featured, with tag and keyword (substring, Chinese included) filters."""
    return post_page(current_viewer(), **args)


@blp.route("/posts", methods=["POST"])
@auth_required(blp)
@action_limited(blp, "post")
@blp.arguments(
    PostIn,
    example={
        "board_id": 2,
        "title": "周末搭的城市街景",
        "body": "街角咖啡店 + 公交站，**灯光**用了 LED 套件。",
        "tags": ["街景", "灯光"],
        "image_ids": [],
    },
)
@blp.response(201, PostDetail)
@documented_errors(blp, 404)
def create_post(body) -> dict:
    """Publish a post in a board (up to 5 tags and 9 of your uploaded images).

    Screened by the word filter: blocked words → 422 naming them, masked words → ＊, review words (and a new
    member's first topics) → status pending_review until a moderator approves. Muted members get 403.
    """
    member = current_member()
    post = publishing.submit_post(member, **body)
    return _detail(post, member)


@blp.route("/posts/<int:post_id>", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, PostDetail)
@documented_errors(blp, 404)
def get_post(post_id: int) -> Response:
    """One post with its rendered body; counts a view.

    A signed-out reader's page may be up to FEED_CACHE_SECONDS old in its counters (like a feed page); a post that is
    hidden, removed or edited leaves the cache within a fifth of a second."""
    viewer = current_viewer()
    if viewer is not None:
        return _json(encoded(_shown(post_id, viewer)))
    # A signed-out reader's post page is cached like a feed page (its counters lag as a feed's do); its view counts.
    page, from_cache = _cached_or_built(cacheable_address(request, ()), lambda: encoded(_shown(post_id, None)))
    if from_cache:
        view_counts.record_view(post_id)
    return _json(page)


def count_cached_view(app: Flask, post_id: int) -> None:
    """A signed-out reader was shown the post page from the cache, before Flask (api/anonymous_pages.py): one trip to
    the store's buffer, and the database only when the view needs it (a flush due, or the store down)."""
    pending = view_counts.buffered(app.extensions["store"], post_id)
    if view_counts.needs_database(pending):
        with app.app_context(), transaction():
            view_counts.settle(post_id, pending)


def _shown(post_id: int, viewer) -> dict:
    post = feeds.shown_post(post_id, viewer, beside_author=badges.PINNED_OF_MEMBER)
    # The view's own increment answers how many views wait in the buffer: no second trip to the store.
    showcase = {post.author_id: badges.pinned_from(post.beside_author)}
    return _detail(post, viewer, views=view_counts.record_view(post.id), showcase=showcase)


@blp.route("/posts/<int:post_id>", methods=["PATCH"])
@auth_required(blp)
@blp.arguments(PostPatch)
@blp.response(200, PostDetail)
@documented_errors(blp, 404, 409)
def update_post(body, post_id: int) -> dict:
    """Edit your own post (not once it is locked or removed by moderation); screened like a new post."""
    member = current_member()
    post = publishing.edit_post(member, post_id, **body)
    return _detail(post, member)


@blp.route("/posts/<int:post_id>", methods=["DELETE"])
@auth_required(blp)
@blp.arguments(RemovalArgs, location="query")
@blp.response(204)
@documented_errors(blp, 404)
def delete_post(args, post_id: int) -> None:
    """Delete a post (its author, or a moderator of its board). Soft: floors and history remain."""
    posts.delete_post(current_member(), post_id, args["reason"])


@blp.route("/posts/<int:post_id>/like", methods=["PUT"])
@auth_required(blp)
@action_limited(blp, "like")
@blp.response(200, LikeOut)
@documented_errors(blp, 404, 409)
def like_post(post_id: int) -> dict:
    """Like a post; repeating it changes nothing. Not your own."""
    state = reactions.like_post(current_member(), post_id)
    return {"liked": state.active, "like_count": state.count}


@blp.route("/posts/<int:post_id>/like", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, LikeOut)
@documented_errors(blp, 404)
def unlike_post(post_id: int) -> dict:
    """Withdraw a like; repeating it changes nothing."""
    state = reactions.unlike_post(current_member(), post_id)
    return {"liked": state.active, "like_count": state.count}


@blp.route("/posts/<int:post_id>/favorite", methods=["PUT"])
@auth_required(blp)
@blp.response(200, FavoriteOut)
@documented_errors(blp, 404, 409)
def favorite_post(post_id: int) -> dict:
    """Add a post to your favourites (idempotent)."""
    state = reactions.favorite_post(current_member(), post_id)
    return {"favorited": state.active, "favorite_count": state.count}


@blp.route("/posts/<int:post_id>/favorite", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, FavoriteOut)
@documented_errors(blp, 404)
def unfavorite_post(post_id: int) -> dict:
    """Remove a post from your favourites (idempotent)."""
    state = reactions.unfavorite_post(current_member(), post_id)
    return {"favorited": state.active, "favorite_count": state.count}


@blp.route("/me/favorites", methods=["GET"])
@auth_required(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(PostSummary))
@documented_errors(blp, 400)
def my_favorites(args) -> dict:
    """Your favourite posts, most recently added first."""
    member = current_member()
    return present_page(member, reactions.list_favorites(member, args["limit"], args["cursor"]))


@blp.route("/users/<int:user_id>/posts", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(PostSummary))
@documented_errors(blp, 400, 404)
@reads_only
def user_posts(args, user_id: int) -> Response:
    """A member's published posts, newest first."""
    get_user(user_id)
    return post_page(current_viewer(), author_id=user_id, sort="latest", **args)
