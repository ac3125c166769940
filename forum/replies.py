"""Replies numbered by floor (楼层): allocated from the post's counter under its row lock, never reused."""

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum import events
from forum.boards import can_moderate
from forum.members import User
from forum.permissions import ensure_author, ensure_author_or_moderator, ensure_can_contribute
from forum.posts import Post, bump_counters, mentioned_users, visible_post
from kernel import clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, NotFound, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, rows_changed


class Reply(Model):
    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    floor: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    quote_reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="published")
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    applause_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(lazy="joined")
    quote: Mapped["Reply | None"] = relationship(remote_side="Reply.id", lazy="joined", join_depth=1)

    __table_args__ = (
        UniqueConstraint("post_id", "floor", name="uq_replies_post_floor"),
        Index("ix_replies_post_status", "post_id", "status"),
    )


def _clean_body(body: str) -> str:
    body = unicodedata.normalize("NFC", body).strip()
    if not 1 <= len(body) <= 10000:
        raise ValidationFailed("invalid body", details={"body": ["1-10000 characters"]})
    return body


def get_reply(reply_id: int) -> Reply:
    return get_or_404(Reply, reply_id, "reply")


def visible_reply(reply_id: int, viewer: User | None) -> tuple[Reply, Post]:
    reply = get_reply(reply_id)
    post = visible_post(reply.post_id, viewer)
    if reply.status == "deleted" or (
        reply.status != "published"
        and (viewer is None or (viewer.id != reply.author_id and not can_moderate(viewer, post.board_id)))
    ):
        raise NotFound("no such reply", code="reply_not_found")
    return reply, post


def create_reply(
    author: User, post_id: int, body: str, quote_reply_id: int | None = None, status: str = "published"
) -> Reply:
    now = clock.now()
    ensure_can_contribute(author, now)
    post = visible_post(post_id, author)
    if post.status == "pending_review":
        raise Conflict("this post is awaiting review; replies open once it is approved", code="post_pending_review")
    if post.status != "published":
        raise Conflict("replies are closed on this post", code="post_not_open")
    if post.locked and not can_moderate(author, post.board_id):
        raise Conflict("this post is locked", code="post_locked")
    quoted = None
    if quote_reply_id is not None:
        quoted = db.session.get(Reply, quote_reply_id)
        if quoted is None or quoted.post_id != post.id or quoted.status != "published":
            raise ValidationFailed("cannot quote that reply", details={"quote_reply_id": ["not a reply here"]})
    body = _clean_body(body)
    published = status == "published"
    # Taking the next floor (and counting a published reply) locks the post row until commit: concurrent replies
    # queue, floors stay unique.
    post = bump_counters(post.id, last_floor=1, **({"reply_count": 1} if published else {}))
    reply = Reply(
        post_id=post.id,
        author_id=author.id,
        floor=post.last_floor,
        body=body,
        quote_reply_id=quoted.id if quoted else None,
        status=status,
        like_count=0,
        applause_count=0,
        created_at=now,
        published_at=now if published else None,
    )
    db.session.add(reply)
    db.session.flush()
    if published:
        _announce(reply, post)
    return reply


def publish_reply(reply: Reply, post: Post) -> None:
    """A held reply approved: counted and announced as a new one would be."""
    reply.status, reply.published_at = "published", clock.now()
    bump_counters(post.id, reply_count=1)
    _announce(reply, post)


def _announce(reply: Reply, post: Post) -> None:
    quoted_author = reply.quote.author_id if reply.quote_reply_id and reply.quote else None
    outbox.emit(
        events.REPLY_CREATED,
        actor_id=reply.author_id,
        subject=("reply", reply.id),
        payload={
            "post_id": post.id,
            "post_author_id": post.author_id,
            "floor": reply.floor,
            "quoted_author_id": quoted_author,
            "mentions": mentioned_users(reply.body, reply.author_id),
        },
    )


def update_reply(editor: User, reply_id: int, body: str) -> Reply:
    reply, post = visible_reply(reply_id, editor)
    ensure_author(editor, reply.author_id, "reply")
    ensure_can_contribute(editor, clock.now())
    if post.locked:
        raise Conflict("this post is locked", code="post_locked")
    if reply.status == "hidden":
        raise Conflict("this reply was removed by moderation", code="reply_removed")
    reply.body = _clean_body(body)
    reply.edited_at = clock.now()
    db.session.flush()
    return reply


def delete_reply(actor: User, reply_id: int, reason: str = "") -> Reply:
    reply, post = visible_reply(reply_id, actor)
    ensure_author_or_moderator(actor, reply.author_id, post.board_id, "reply")
    set_reply_status(reply, "deleted", actor_id=actor.id, reason=reason)
    return reply


def set_reply_status(reply: Reply, status: str, *, actor_id: int | None, reason: str = "") -> bool:
    """Like set_post_status for replies: a conditional UPDATE keeps the post's reply_count true under races."""
    old = reply.status
    if old == status:
        return False
    first_publication = status == "published" and reply.published_at is None
    moved = rows_changed(update(Reply).where(Reply.id == reply.id, Reply.status == old).values(status=status)) == 1
    if not moved:
        return False
    reply.status = status
    post = db.session.get_one(Post, reply.post_id)
    if first_publication:
        publish_reply(reply, post)
        return True
    if status == "deleted":
        reply.deleted_at = clock.now()
    if status == "published":
        bump_counters(post.id, reply_count=1)
        outbox.emit(
            events.REPLY_RESTORED,
            actor_id=actor_id,
            subject=("reply", reply.id),
            payload={"post_id": post.id, "author_id": reply.author_id, "reason": reason},
        )
    elif old == "published":
        bump_counters(post.id, reply_count=-1)
        outbox.emit(
            events.REPLY_REMOVED,
            actor_id=actor_id,
            subject=("reply", reply.id),
            payload={
                "post_id": post.id,
                "author_id": reply.author_id,
                "by_author": actor_id == reply.author_id,
                "status": status,
                "reason": reason,
            },
        )
    db.session.flush()
    return True


@dataclass(frozen=True, slots=True)
class Floor:
    """A reply as a page of floors shows it, with what another package shows beside its author."""

    reply: Reply
    beside_author: Any


def list_replies(
    post_id: int, viewer: User | None, limit: int, cursor: str | None, beside_author: ColumnElement[Any]
) -> Page:
    """Floors in order. Removed floors stay in the list as tombstones so numbering reads true. `beside_author` is a
    column over `replies.author_id`, built once by its owner (e.g. the economy's pinned badges), read with each
    reply: the forum does not know what it is."""
    post = visible_post(post_id, viewer)
    shown = Reply.status != "pending_review"
    if viewer is not None:
        shown = shown | (Reply.author_id == viewer.id)  # authors see their own floors waiting for review
    # The floor is selected as its own column too: the page's cursor is read from it.
    query = select(Reply, Reply.floor, beside_author.label("beside_author")).where(Reply.post_id == post.id, shown)
    page = keyset_page(query, [Reply.floor], limit, cursor, descending=False, scalars=False)
    return Page([Floor(row.Reply, row.beside_author) for row in page.items], page.next_cursor)


def shows_body(reply: Reply, viewer: User | None, board_id: int) -> bool:
    if reply.status == "published":
        return True
    if viewer is None or reply.status == "deleted":
        return False
    return viewer.id == reply.author_id or can_moderate(viewer, board_id)
