"""Moderator actions on posts and replies. Board moderators act only in their boards; global ones anywhere.

Every action is audited in the same transaction, and removals settle the open reports and queue item.
"""

from dataclasses import dataclass

from sqlalchemy import update

from c2b import ideas
from forum.boards import Board, can_moderate, get_board
from forum.members import User
from forum.notifications import notify
from forum.posts import Post, refresh_hot_score
from kernel import audit, clock, outbox
from kernel.db import db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from moderation import events, queue, reports
from moderation.content import Target, load

POST_ACTIONS = (
    "approve",
    "reject",
    "hide",
    "restore",
    "delete",
    "lock",
    "unlock",
    "pin",
    "unpin",
    "feature",
    "unfeature",
    "move",
)
REPLY_ACTIONS = ("approve", "reject", "hide", "restore", "delete")
IDEA_ACTIONS = ("approve", "reject", "hide", "restore", "delete")
NEEDS_REASON = ("reject", "hide", "delete")
# Where each visibility action takes content, and whether it upholds the reports against it.
VISIBILITY = {
    "approve": ("published", False),
    "restore": ("published", False),
    "reject": ("hidden", True),
    "hide": ("hidden", True),
    "delete": ("deleted", True),
}
MESSAGES = {
    "approve": "你的内容已通过审核并发布",
    "restore": "你的内容已恢复显示",
    "reject": "你的内容未通过审核：{reason}",
    "hide": "你的内容已被隐藏：{reason}",
    "delete": "你的内容已被删除：{reason}",
    "feature": "恭喜！你的帖子被设为精华（加精）",
}


@dataclass
class ActionResult:
    action: str
    target: Target
    audit_id: int


def perform(
    actor: User, action: str, target_type: str, target_id: int, reason: str = "", board_id: int | None = None
) -> ActionResult:
    target = load(target_type, target_id)
    allowed = {"idea": IDEA_ACTIONS, "post": POST_ACTIONS}.get(target.kind, REPLY_ACTIONS)
    if action not in allowed:
        raise ValidationFailed(f"cannot {action} a {target.kind}", details={"action": [f"one of {', '.join(allowed)}"]})
    if target.kind.startswith("idea"):
        # Ideas and what is said about them belong to no board: global moderators and the product team review them.
        actor.ensure_role("moderator", "product", doing="review ideas")
    elif not (actor.has_role("moderator") if target.board_id is None else can_moderate(actor, target.board_id)):
        raise Forbidden("you do not moderate this board", code="not_board_moderator")
    reason = reason.strip()
    if action in NEEDS_REASON and not reason:
        raise ValidationFailed("a reason is required", details={"reason": ["required for " + action]})
    details: dict = {}
    if target.kind == "idea" and action in ("approve", "reject"):
        _review_idea(actor, target, action, reason)
    elif action in VISIBILITY:
        _change_visibility(actor, target, action, reason)
    elif action == "move":
        details = _move(actor, target, board_id)
    else:
        _toggle(actor, target, action)
    entry = audit.record(
        actor, f"{target.kind}.{action}", target.kind, target.id, reason, board_id=target.board_id, **details
    )
    if action in MESSAGES:
        notify(
            target.author_id,
            "moderation",
            actor_id=actor.id,
            subject=(target.kind, target.id),
            post_id={"post": target.obj.id, "reply": getattr(target.obj, "post_id", None)}.get(target.kind),
            message=MESSAGES[action].format(reason=reason or "-"),
        )
    return ActionResult(action, target, entry.id)


def _change_visibility(actor: User, target: Target, action: str, reason: str) -> None:
    status, upheld = VISIBILITY[action]
    if action == "approve" and target.status not in ("pending_review", "hidden"):
        raise Conflict("nothing to approve", code="not_pending")
    if action == "reject" and target.status != "pending_review" and queue.open_item(target.kind, target.id) is None:
        raise Conflict("nothing to reject", code="not_pending")
    target.set_visibility(status, actor_id=actor.id, reason=reason)
    reports.settle(target, upheld=upheld)
    queue.resolve(target.kind, target.id, actor, "rejected" if upheld else "approved", reason)


def _review_idea(actor: User, target: Target, action: str, reason: str) -> None:
    if action == "approve":
        ideas.publish(target.as_(ideas.Idea))
    else:
        ideas.reject(target.as_(ideas.Idea), reason)
    queue.resolve("idea", target.id, actor, "approved" if action == "approve" else "rejected", reason)


def _toggle(actor: User, target: Target, action: str) -> None:
    post = target.as_(Post)
    if action in ("lock", "unlock"):
        post.locked = action == "lock"
    elif action in ("pin", "unpin"):
        post.pinned = action == "pin"
    elif action == "feature":
        if post.status != "published":
            raise Conflict("only published posts can be featured", code="post_not_open")
        if not post.featured:
            post.featured, post.featured_at = True, clock.now()
            # The economy pays the featured reward from this event (once per post, keyed by the event).
            outbox.emit(
                events.POST_FEATURED,
                actor_id=actor.id,
                subject=("post", post.id),
                payload={"author_id": post.author_id},
            )
    elif action == "unfeature" and post.featured:
        post.featured, post.featured_at = False, None
        outbox.emit(
            events.POST_UNFEATURED, actor_id=actor.id, subject=("post", post.id), payload={"author_id": post.author_id}
        )
    refresh_hot_score(post)
    db.session.flush()


def _move(actor: User, target: Target, board_id: int | None) -> dict:
    if board_id is None:
        raise ValidationFailed("say where to move it", details={"board_id": ["required for move"]})
    destination = get_board(board_id)
    if not can_moderate(actor, destination.id):
        raise Forbidden("you do not moderate the destination board", code="not_board_moderator")
    post = target.as_(Post)
    source = post.board_id
    if source == destination.id:
        return {"from_board_id": source, "to_board_id": source}
    if post.status == "published":
        db.session.execute(update(Board).where(Board.id == source).values(post_count=Board.post_count - 1))
        db.session.execute(update(Board).where(Board.id == destination.id).values(post_count=Board.post_count + 1))
    post.board_id = destination.id
    target.board_id = destination.id
    db.session.flush()
    return {"from_board_id": source, "to_board_id": destination.id}
