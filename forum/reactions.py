"""Likes on posts and replies, 拍一拍 (applause) on replies, and favourites.

Each reaction is a row keyed by (target, member): inserting it is idempotent (ON CONFLICT DO NOTHING) and the
counter moves only when a row was really inserted or deleted, in the same transaction, so counts stay exact
under any number of concurrent or repeated requests.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CompoundSelect, ForeignKey, Index, bindparam, delete, literal, select, union_all, update
from sqlalchemy.orm import Mapped, mapped_column

from forum import events
from forum.members import User
from forum.posts import Post, bump_counters, shown, visible_post
from forum.replies import Reply, visible_reply
from kernel import clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden
from kernel.events import EventType
from kernel.pagination import Page, keyset_page
from kernel.sql import insert_if_absent, one_of, rows_changed


class PostLike(Model):
    __tablename__ = "post_likes"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReplyLike(Model):
    __tablename__ = "reply_likes"

    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReplyApplause(Model):
    """拍一拍: one per member per reply, never on your own; a quality signal, not a vote to undo."""

    __tablename__ = "reply_applause"

    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Favorite(Model):
    __tablename__ = "favorites"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_favorites_user_recent", "user_id", "created_at", "post_id"),)


@dataclass(frozen=True)
class ReactionState:
    active: bool
    count: int
    changed: bool


def _not_yourself(user: User, author_id: int, what: str) -> None:
    if user.id == author_id:
        raise Forbidden(f"you cannot {what} your own content", code="own_content")


def _live_post(user: User, post_id: int) -> Post:
    post = visible_post(post_id, user)
    if post.status != "published":
        raise Conflict("this post is not open for reactions", code="post_not_open")
    return post


def _live_reply(user: User, reply_id: int) -> Reply:
    reply, _ = visible_reply(reply_id, user)
    if reply.status != "published":
        raise Conflict("this reply is not open for reactions", code="reply_not_open")
    return reply


def like_post(user: User, post_id: int) -> ReactionState:
    post = _live_post(user, post_id)
    _not_yourself(user, post.author_id, "like")
    inserted = insert_if_absent(PostLike, {"post_id": post.id, "user_id": user.id, "created_at": clock.now()})
    if inserted:
        post = bump_counters(post.id, like_count=1)
        outbox.emit(
            events.LIKE_RECEIVED,
            actor_id=user.id,
            subject=("post", post.id),
            payload={"recipient_id": post.author_id, "post_id": post.id},
        )
    return ReactionState(True, post.like_count, inserted)


def unlike_post(user: User, post_id: int) -> ReactionState:
    post = visible_post(post_id, user)
    removed = rows_changed(delete(PostLike).where(PostLike.post_id == post.id, PostLike.user_id == user.id))
    if removed:
        post = bump_counters(post.id, like_count=-1)
        outbox.emit(
            events.LIKE_WITHDRAWN,
            actor_id=user.id,
            subject=("post", post.id),
            payload={"recipient_id": post.author_id, "post_id": post.id},
        )
    return ReactionState(False, post.like_count, bool(removed))


def _bump_reply(reply_id: int, column: str, delta: int) -> int:
    return db.session.execute(
        update(Reply)
        .where(Reply.id == reply_id)
        .values({column: getattr(Reply, column) + delta})
        .returning(getattr(Reply, column))
    ).scalar_one()


def _react_to_reply(
    user: User, reply_id: int, table: type[Model], counter: str, event_type: EventType, verb: str
) -> ReactionState:
    """Add a one-per-member reaction row; the counter and the event follow only a real insert."""
    reply = _live_reply(user, reply_id)
    _not_yourself(user, reply.author_id, verb)
    inserted = insert_if_absent(table, {"reply_id": reply.id, "user_id": user.id, "created_at": clock.now()})
    if inserted:
        count = _bump_reply(reply.id, counter, 1)
        _emit_for_reply(event_type, user, reply)
    else:
        count = db.session.execute(select(getattr(Reply, counter)).where(Reply.id == reply.id)).scalar_one()
    return ReactionState(True, count, inserted)


def _emit_for_reply(event_type: EventType, user: User, reply: Reply) -> None:
    outbox.emit(
        event_type,
        actor_id=user.id,
        subject=("reply", reply.id),
        payload={"recipient_id": reply.author_id, "post_id": reply.post_id},
    )


def like_reply(user: User, reply_id: int) -> ReactionState:
    return _react_to_reply(user, reply_id, ReplyLike, "like_count", events.LIKE_RECEIVED, "like")


def applaud_reply(user: User, reply_id: int) -> ReactionState:
    return _react_to_reply(user, reply_id, ReplyApplause, "applause_count", events.APPLAUSE_RECEIVED, "applaud")


def unlike_reply(user: User, reply_id: int) -> ReactionState:
    reply, _ = visible_reply(reply_id, user)
    removed = rows_changed(delete(ReplyLike).where(ReplyLike.reply_id == reply.id, ReplyLike.user_id == user.id))
    if removed:
        count = _bump_reply(reply.id, "like_count", -1)
        _emit_for_reply(events.LIKE_WITHDRAWN, user, reply)
    else:
        count = db.session.execute(select(Reply.like_count).where(Reply.id == reply.id)).scalar_one()
    return ReactionState(False, count, bool(removed))


def favorite_post(user: User, post_id: int) -> ReactionState:
    post = _live_post(user, post_id)
    inserted = insert_if_absent(Favorite, {"post_id": post.id, "user_id": user.id, "created_at": clock.now()})
    if inserted:
        post = bump_counters(post.id, favorite_count=1)
    return ReactionState(True, post.favorite_count, inserted)


def unfavorite_post(user: User, post_id: int) -> ReactionState:
    post = visible_post(post_id, user)
    removed = rows_changed(delete(Favorite).where(Favorite.post_id == post.id, Favorite.user_id == user.id))
    if removed:
        post = bump_counters(post.id, favorite_count=-1)
    return ReactionState(False, post.favorite_count, bool(removed))


def list_favorites(user: User, limit: int, cursor: str | None) -> Page:
    """The member's favourites, newest first; posts removed since are left out."""
    query = (
        select(Favorite.created_at, Favorite.post_id, Post)
        .options(*shown())
        .join(Post, Post.id == Favorite.post_id)
        .where(Favorite.user_id == user.id, Post.status == "published")
    )
    page = keyset_page(query, [Favorite.created_at, Favorite.post_id], limit, cursor, scalars=False)
    return Page([row.Post for row in page.items], page.next_cursor)


def _marks(first: tuple[Any, Any], second: tuple[Any, Any]) -> CompoundSelect:
    """Which of the ids bound as `ids` the member bound as `user_id` has marked in each of two (table, id column)
    pairs, as (0 or 1, id) rows."""
    return union_all(
        *(
            select(literal(n).label("kind"), column).where(table.user_id == bindparam("user_id"), one_of(column, "ids"))
            for n, (table, column) in enumerate((first, second))
        )
    )


# Built once: every page of posts or floors asks them.
_POST_MARKS = _marks((PostLike, PostLike.post_id), (Favorite, Favorite.post_id))
_REPLY_MARKS = _marks((ReplyLike, ReplyLike.reply_id), (ReplyApplause, ReplyApplause.reply_id))


def _marked(user: User, ids: list[int], marks: CompoundSelect) -> tuple[set[int], set[int]]:
    """Which of `ids` the member has marked in each of the two ways `marks` reads: one query for a whole page."""
    found: tuple[set[int], set[int]] = (set(), set())
    for kind, target_id in db.session.execute(marks, {"user_id": user.id, "ids": ids}):
        found[kind].add(target_id)
    return found


def viewer_state(user: User | None, post_ids: list[int]) -> tuple[set[int], set[int]]:
    """Which of these posts the viewer has liked and favourited."""
    if user is None or not post_ids:
        return set(), set()
    return _marked(user, post_ids, _POST_MARKS)


def reply_viewer_state(user: User | None, reply_ids: list[int]) -> tuple[set[int], set[int]]:
    """Which of these replies the viewer has liked and applauded."""
    if user is None or not reply_ids:
        return set(), set()
    return _marked(user, reply_ids, _REPLY_MARKS)
