"""Post lists: global and per board, sorted hot | latest | featured, filtered by tag or keyword.

A list is the hottest read of the community, so its posts are read as plain rows (no ORM objects to build and
track), in one statement: each post with its author's card, its tags and its images (as JSON lists from correlated
subqueries, which the database evaluates only for the rows of the page), and whatever another package shows beside
the author (`beside_author`, e.g. the economy's pinned badges: the forum does not know what it is).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, select
from sqlalchemy.orm import InstrumentedAttribute

from forum.media import Media
from forum.members import User
from forum.posts import Post, PostImage, PostTag, Tag, can_see, find_tag
from kernel.errors import NotFound
from kernel.pagination import Page, keyset_page
from kernel.search import substring_match
from kernel.sql import column_rows, json_rows

SORTS = ("hot", "latest", "featured")


@dataclass(frozen=True, slots=True)
class AuthorCard:
    id: int
    username: str
    display_name: str
    level: int


@dataclass(frozen=True, slots=True)
class ImageCard:
    id: int
    width: int
    height: int
    mime: str
    check_status: str


@dataclass(slots=True)
class Listed:
    """A post as a list shows it."""

    id: int
    board_id: int
    title: str
    body: str
    status: str
    pinned: bool
    featured: bool
    locked: bool
    reply_count: int
    like_count: int
    favorite_count: int
    view_count: int
    hot_score: float
    created_at: datetime
    edited_at: datetime | None
    featured_at: datetime | None
    last_activity_at: datetime
    author: AuthorCard
    tag_names: list[str] = field(default_factory=list)
    images: list[ImageCard] = field(default_factory=list)
    beside_author: Any = None  # the list's `beside_author` column, as the database gave it

    @property
    def author_id(self) -> int:
        return self.author.id


_POST_COLUMNS = (
    Post.id,
    Post.board_id,
    Post.title,
    Post.body,
    Post.status,
    Post.pinned,
    Post.featured,
    Post.locked,
    Post.reply_count,
    Post.like_count,
    Post.favorite_count,
    Post.view_count,
    Post.hot_score,
    Post.created_at,
    Post.edited_at,
    Post.featured_at,
    Post.last_activity_at,
)
_POST_FIELDS = tuple(column.key for column in _POST_COLUMNS)
_AUTHOR_AT = len(_POST_COLUMNS)  # where a listed row's author begins
_AUTHOR_COLUMNS = (Post.author_id, User.username, User.display_name, User.level)


# A post's tags and images, each as one JSON list correlated to the post of the enclosing row.
_TAG_ROWS = (
    select(json_rows(Tag.name))
    .select_from(PostTag)
    .join(Tag, Tag.id == PostTag.tag_id)
    .where(PostTag.post_id == Post.id)
).scalar_subquery()
_IMAGE_ROWS = (
    select(json_rows(PostImage.position, Media.id, Media.width, Media.height, Media.mime, Media.check_status))
    .select_from(PostImage)
    .join(Media, Media.id == PostImage.media_id)
    .where(PostImage.post_id == Post.id)
).scalar_subquery()

# Built once: a list is read on every page view, and building these statements costs more than running them.
_LISTED = select(*_POST_COLUMNS, *_AUTHOR_COLUMNS, _TAG_ROWS.label("tag_rows"), _IMAGE_ROWS.label("image_rows")).join(
    User, User.id == Post.author_id
)


def listed(rows: Sequence[Row[*tuple[Any, ...]]]) -> list[Listed]:
    """Rows of a list's statement as posts to show: tags by name, images in their order. A row is read as `_LISTED`
    lays it out (the post's fields, the author's four, tags, images, then `beside_author` when the list has it), its
    values taken in one pass: looked up one by one by name, a page's rows cost four times as much."""
    shown = []
    for row in rows:
        author_id, username, display_name, level, tag_rows, image_rows, *beside = row[_AUTHOR_AT:]
        shown.append(
            Listed(
                **dict(zip(_POST_FIELDS, row[:_AUTHOR_AT], strict=True)),
                author=AuthorCard(author_id, username, display_name, level),
                tag_names=sorted(name for (name,) in tag_rows or ()),
                images=[ImageCard(*image) for _, *image in sorted(image_rows or ())],
                beside_author=beside[0] if beside else None,
            )
        )
    return shown


@lru_cache(maxsize=8)
def _one_post(beside_author: ColumnElement[Any] | None) -> Select[*tuple[Any, ...]]:
    return _with(_LISTED, beside_author).where(Post.id == bindparam("post_id"))


def _with(query: Select[*tuple[Any, ...]], beside_author: ColumnElement[Any] | None) -> Select[*tuple[Any, ...]]:
    return query if beside_author is None else query.add_columns(beside_author.label("beside_author"))


def shown_post(post_id: int, viewer: User | None, beside_author: ColumnElement[Any] | None = None) -> Listed:
    """One post to display, read the way lists read theirs; not found when the viewer may not see it."""
    row = column_rows(_one_post(beside_author), {"post_id": post_id}).first()
    if row is None or not can_see(row, viewer):
        raise NotFound("no such post", code="post_not_found")
    return listed([row])[0]


def list_posts(
    *,
    sort: str = "latest",
    board_id: int | None = None,
    tag: str | None = None,
    q: str | None = None,
    author_id: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
    beside_author: ColumnElement[Any] | None = None,
) -> Page:
    """A page of published posts. `beside_author` is a column built once by its owner over the author's row
    (`users`), read with each post (see the module's doc)."""
    params: dict[str, Any] = {"board_id": board_id, "author_id": author_id}
    if tag:
        found = find_tag(tag)
        if found is None:
            return Page([], None)
        params["tag_id"] = found.id
    query, keys = _feed(sort, board_id is not None, author_id is not None, bool(tag), beside_author)
    if q:
        # Substring match, so Chinese words match inside sentences without a tokenizer.
        query = query.where(substring_match(Post.id, (Post.title, Post.body), "posts_search", q))
    page = keyset_page(query, keys, limit, cursor, columns=True, params=params, built_once=not q)
    return Page(listed(page.items), page.next_cursor)


@lru_cache(maxsize=64)
def _feed(
    sort: str, in_board: bool, by_author: bool, tagged: bool, beside_author: ColumnElement[Any] | None
) -> tuple[Select[*tuple[Any, ...]], tuple[InstrumentedAttribute[Any], ...]]:
    """The statement of a list of this shape and its order, with the board, author and tag as parameters: built
    once per shape instead of on every page view."""
    query = _with(_LISTED, beside_author).where(Post.status == "published")
    keys: list[InstrumentedAttribute[Any]] = []
    if in_board:
        # Pinned posts lead a board's list, whatever the sort.
        query = query.where(Post.board_id == bindparam("board_id"))
        keys.append(Post.pinned)
    if by_author:
        query = query.where(Post.author_id == bindparam("author_id"))
    if tagged:
        query = query.where(Post.id.in_(select(PostTag.post_id).where(PostTag.tag_id == bindparam("tag_id"))))
    if sort == "hot":
        keys += [Post.hot_score, Post.id]
    elif sort == "featured":
        query = query.where(Post.featured.is_(True))
        keys += [Post.featured_at, Post.id]
    else:
        keys += [Post.created_at, Post.id]
    return query, tuple(keys)
