"""Posts: creation, editing, soft deletion, visibility, counters and the hot score."""

import re
import unicodedata
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    case,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from forum import events, feed_cache
from forum.boards import Board, can_moderate, get_board
from forum.hot import FEATURED_BONUS, POST_WEIGHTS, age_term, hot_score, ranking_sql
from forum.media import Media, owned_media
from forum.members import User
from forum.permissions import ensure_author, ensure_author_or_moderator, ensure_can_contribute
from forum.text import mentioned_usernames
from kernel import clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from kernel.sql import column_rows, get_or_404, move

STATUSES = ("published", "pending_review", "hidden", "deleted")
MAX_TAGS = 5
MAX_IMAGES = 9
TAG_RE = re.compile(r"^[\w·\-+#. ]{1,20}$")


class Post(Model):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="published")
    pinned: Mapped[bool] = mapped_column(default=False)
    featured: Mapped[bool] = mapped_column(default=False)
    locked: Mapped[bool] = mapped_column(default=False)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    favorite_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    # Floors are handed out from this counter and never reused, so deletions leave numbering intact.
    last_floor: Mapped[int] = mapped_column(Integer, default=0)
    hot_score: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    featured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(lazy="joined")
    # Loaded only by what shows them (pages of favourites: shown(); feeds and one post read rows, see feeds): a
    # like or a reply touching the post does not pay two more queries for its tags and images.
    tags: Mapped[list["Tag"]] = relationship(secondary="post_tags", order_by="Tag.name")
    images: Mapped[list[Media]] = relationship(secondary="post_images", order_by="PostImage.position", viewonly=True)

    @property
    def tag_names(self) -> list[str]:
        # Sorted here as lists sort theirs (forum.feeds): the same order whatever the database's collation.
        return sorted(tag.name for tag in self.tags)

    __table_args__ = (
        Index("ix_posts_feed_latest", "status", "created_at", "id"),
        Index("ix_posts_feed_hot", "status", "hot_score", "id"),
        Index("ix_posts_feed_featured", "status", "featured", "featured_at", "id"),
        Index("ix_posts_board_latest", "board_id", "status", "pinned", "created_at", "id"),
        Index("ix_posts_board_hot", "board_id", "status", "pinned", "hot_score", "id"),
    )


class Tag(Model):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    name_key: Mapped[str] = mapped_column(String(40), unique=True)


class PostTag(Model):
    __tablename__ = "post_tags"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)


class PostImage(Model):
    __tablename__ = "post_images"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


def _clean_title(title: str) -> str:
    title = re.sub(r"\s+", " ", unicodedata.normalize("NFC", title)).strip()
    if not 2 <= len(title) <= 120:
        raise ValidationFailed("invalid title", details={"title": ["2-120 characters"]})
    return title


def _clean_body(body: str) -> str:
    body = unicodedata.normalize("NFC", body).strip()
    if not 1 <= len(body) <= 20000:
        raise ValidationFailed("invalid body", details={"body": ["1-20000 characters"]})
    return body


def _tag_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def check_tag_names(names: list[str]) -> dict[str, str]:
    """Tags as members type them (#乐高, full-width letters) → {normalised key: name}; 422 for a bad or sixth tag."""
    cleaned: dict[str, str] = {}
    for raw in names:
        name = unicodedata.normalize("NFKC", raw).strip().lstrip("#")
        if not TAG_RE.fullmatch(name):
            raise ValidationFailed("invalid tag", details={"tags": [f"bad tag: {raw!r}"]})
        cleaned.setdefault(_tag_key(name), name)
    if len(cleaned) > MAX_TAGS:
        raise ValidationFailed("too many tags", details={"tags": [f"at most {MAX_TAGS}"]})
    return cleaned


def resolve_tags(names: list[str]) -> list[Tag]:
    tags = []
    for key, name in check_tag_names(names).items():
        tag = db.session.scalar(select(Tag).where(Tag.name_key == key))
        if tag is None:
            # A savepoint so a concurrent creator of the same tag does not sink our transaction.
            try:
                with db.session.begin_nested():
                    tag = Tag(name=name, name_key=key)
                    db.session.add(tag)
            except IntegrityError:
                tag = db.session.scalar(select(Tag).where(Tag.name_key == key))
                if tag is None:
                    raise
        tags.append(tag)
    return sorted(tags, key=lambda tag: tag.name)  # the relationship's own order, before any reload


def find_tag(name: str) -> Tag | None:
    return db.session.scalar(select(Tag).where(Tag.name_key == _tag_key(name.strip().lstrip("#"))))


def _set_images(post: Post, media: list[Media]) -> None:
    if len(media) > MAX_IMAGES:
        raise ValidationFailed("too many images", details={"image_ids": [f"at most {MAX_IMAGES}"]})
    db.session.execute(delete(PostImage).where(PostImage.post_id == post.id))
    for position, item in enumerate(media):
        db.session.add(PostImage(post_id=post.id, media_id=item.id, position=position))
    db.session.flush()
    db.session.expire(post, ["images"])


def mentioned_users(text: str, exclude: int) -> list[int]:
    from forum.names import canonical

    keys = [canonical(name) for name in mentioned_usernames(text)]
    if not keys:
        return []
    ids = db.session.scalars(select(User.id).where(User.username_key.in_(keys), User.id != exclude)).all()
    return list(ids)


def refresh_hot_score(post: Post) -> None:
    post.hot_score = hot_score(
        likes=post.like_count,
        replies=post.reply_count,
        favorites=post.favorite_count,
        featured=post.featured,
        created_at=post.created_at,
    )


# What a counter bump reads back under the post's row lock: everything the hot score and a new floor need.
_BUMPED = (
    Post.like_count,
    Post.reply_count,
    Post.favorite_count,
    Post.last_floor,
    Post.last_activity_at,
    Post.featured,
    Post.hot_score,
)


def _hot_as_bumped(deltas: dict[str, int], created_at: datetime) -> ColumnElement[float]:
    """forum.hot.hot_score in SQL, from the counts the UPDATE is setting (its SET reads the row as it was, hence the
    deltas) and the featured flag under the row's lock: a bump writes the post's row once."""
    engagement: ColumnElement[Any] = case((Post.featured, FEATURED_BONUS), else_=0)
    for name, weight in POST_WEIGHTS.items():
        engagement = engagement + weight * (getattr(Post, name) + deltas.get(name, 0))
    return ranking_sql(engagement, age_term(created_at))


def bump_counters(post_id: int, **deltas: int) -> Post:
    """Apply counter deltas atomically in SQL (no lost updates) and the hot score they give, in one UPDATE.

    The UPDATE takes the row lock, so concurrent bumps of one post serialise and each sees the last one's counts
    (returned by the UPDATE itself and given to the post this unit of work holds).
    """
    post = db.session.identity_map.get(db.session.identity_key(Post, post_id)) or db.session.get_one(Post, post_id)
    values: dict[str, Any] = {name: getattr(Post, name) + delta for name, delta in deltas.items()}
    if any(delta > 0 for name, delta in deltas.items() if name in ("reply_count", "like_count")):
        values["last_activity_at"] = clock.now()
    values["hot_score"] = _hot_as_bumped(deltas, post.created_at)
    bumped = column_rows(update(Post).where(Post.id == post_id).values(**values).returning(*_BUMPED)).one()
    for column, value in zip(_BUMPED, bumped, strict=True):
        set_committed_value(post, column.key, value)
    return post


def create_post(
    author: User,
    *,
    board_id: int,
    title: str,
    body: str,
    tags: list[str] | None = None,
    image_ids: list[int] | None = None,
    status: str = "published",
) -> Post:
    now = clock.now()
    ensure_can_contribute(author, now)
    board = get_board(board_id)
    if board.staff_only and not (author.is_staff or can_moderate(author, board.id)):
        raise Forbidden("only staff can post in this board", code="board_staff_only")
    post = Post(
        board_id=board.id,
        author_id=author.id,
        title=_clean_title(title),
        body=_clean_body(body),
        status=status,
        pinned=False,
        featured=False,
        locked=False,
        reply_count=0,
        like_count=0,
        favorite_count=0,
        view_count=0,
        last_floor=0,
        created_at=now,
        last_activity_at=now,
    )
    post.tags = resolve_tags(tags or [])
    refresh_hot_score(post)
    db.session.add(post)
    db.session.flush()
    _set_images(post, owned_media(author, image_ids or []))
    if status == "published":
        publish(post)
    return post


def publish(post: Post) -> None:
    """First publication: count the post in its board and tell the rest of the system (points, mentions)."""
    post.status, post.published_at = "published", clock.now()
    db.session.execute(update(Board).where(Board.id == post.board_id).values(post_count=Board.post_count + 1))
    outbox.emit(
        events.POST_PUBLISHED,
        actor_id=post.author_id,
        subject=("post", post.id),
        payload={"board_id": post.board_id, "mentions": mentioned_users(post.body, post.author_id)},
    )


def set_post_status(post: Post, status: str, *, actor_id: int | None, reason: str = "") -> bool:
    """Move a post between published, pending_review, hidden and deleted; False when it was already there.

    The transition is a conditional UPDATE on the old status, so two moderators (or an auto-hide racing a
    moderator) cannot both apply it and double-count the board.
    """
    old = post.status
    if old == status:
        return False
    if status == "published" and post.published_at is None:
        moved = _transition(post, old, "pending_review")
        if moved:
            db.session.refresh(post)
            publish(post)
        return moved
    if not _transition(post, old, status):
        return False
    now = clock.now()
    if status == "deleted":
        post.deleted_at = now
    if status == "published":
        db.session.execute(update(Board).where(Board.id == post.board_id).values(post_count=Board.post_count + 1))
        outbox.emit(
            events.POST_RESTORED,
            actor_id=actor_id,
            subject=("post", post.id),
            payload={"author_id": post.author_id, "reason": reason},
        )
    elif old == "published":
        db.session.execute(update(Board).where(Board.id == post.board_id).values(post_count=Board.post_count - 1))
        outbox.emit(
            events.POST_REMOVED,
            actor_id=actor_id,
            subject=("post", post.id),
            payload={
                "author_id": post.author_id,
                "by_author": actor_id == post.author_id,
                "status": status,
                "reason": reason,
            },
        )
    db.session.flush()
    return True


def _transition(post: Post, old: str, new: str) -> bool:
    moved = move(post, new, sources=(old,))
    if moved:
        feed_cache.mark_stale()
    return moved


# What a feed shows of a post; a change to any of these makes cached feed pages stale.
FEED_VISIBLE = ("status", "deleted_at", "board_id", "pinned", "featured", "title", "body", "published_at")


@event.listens_for(Session, "before_flush")
def _note_feed_changes(session: Session, _context, _instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, Post) and any(inspect(obj).attrs[name].history.has_changes() for name in FEED_VISIBLE):
            feed_cache.mark_stale(session)
            return


def get_post(post_id: int) -> Post:
    return get_or_404(Post, post_id, "post")


class Placed(Protocol):
    """What deciding who may see a post needs: a post, or a post read as a row for a list."""

    @property
    def status(self) -> str: ...
    @property
    def board_id(self) -> int: ...
    @property
    def author_id(self) -> int: ...


def can_see(post: Placed, viewer: User | None) -> bool:
    if post.status == "published":
        return True
    if viewer is None:
        return False
    if post.status == "deleted":
        return can_moderate(viewer, post.board_id)
    return viewer.id == post.author_id or can_moderate(viewer, post.board_id)


def shown() -> tuple:
    """Loader options for a page of posts on display: tags and images in one query each for the whole page."""
    return (selectinload(Post.tags), selectinload(Post.images))


def visible_post(post_id: int, viewer: User | None) -> Post:
    return get_or_404(Post, post_id, "post", visible=lambda post: can_see(post, viewer))


def update_post(
    editor: User,
    post_id: int,
    *,
    title: str | None = None,
    body: str | None = None,
    tags: list[str] | None = None,
    image_ids: list[int] | None = None,
) -> Post:
    """Authors edit their own posts while they are live and unlocked."""
    post = visible_post(post_id, editor)
    ensure_author(editor, post.author_id, "post")
    ensure_can_contribute(editor, clock.now())
    if post.locked:
        raise Conflict("this post is locked", code="post_locked")
    if post.status in ("hidden", "deleted"):
        raise Conflict("this post was removed by moderation", code="post_removed")
    if title is not None:
        post.title = _clean_title(title)
    if body is not None:
        post.body = _clean_body(body)
    if tags is not None:
        post.tags = resolve_tags(tags)
    if image_ids is not None:
        _set_images(post, owned_media(editor, image_ids))
    post.edited_at = clock.now()
    db.session.flush()
    return post


def delete_post(actor: User, post_id: int, reason: str = "") -> Post:
    """Soft delete by the author or a moderator of the board; the removal event lets points be clawed back."""
    post = visible_post(post_id, actor)
    ensure_author_or_moderator(actor, post.author_id, post.board_id, "post")
    set_post_status(post, "deleted", actor_id=actor.id, reason=reason)
    return post
