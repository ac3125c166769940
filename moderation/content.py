"""Looking up reportable / moderatable content (posts and replies) uniformly."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select

from c2b import ideas
from c2b.ideas import Idea, IdeaComment, IdeaUpdate, get_idea
from forum.posts import Post, get_post, set_post_status
from forum.replies import Reply, get_reply, set_reply_status
from kernel.db import db
from kernel.errors import ValidationFailed
from kernel.sql import get_or_404

Content = Post | Reply | Idea | IdeaComment | IdeaUpdate
# The model of each kind of target.
MODELS: dict[str, type[Content]] = {
    "post": Post,
    "reply": Reply,
    "idea": Idea,
    "idea_comment": IdeaComment,
    "idea_update": IdeaUpdate,
}
TARGET_TYPES = tuple(MODELS)
T = TypeVar("T")


@dataclass
class Target:
    kind: str
    obj: Content
    board_id: int | None  # ideas belong to no board: only global moderators review them
    author_id: int

    @property
    def id(self) -> int:
        return self.obj.id

    def as_(self, kind: type[T]) -> T:
        """The content as the type its kind promises (an action on posts only receives posts)."""
        if not isinstance(self.obj, kind):
            raise TypeError(f"a {self.kind} is not a {kind.__name__}")
        return self.obj

    def set_visibility(self, status: str, *, actor_id: int | None, reason: str) -> bool:
        """Publish, hide or remove a post or reply; False when it already was."""
        if isinstance(self.obj, Post):
            return set_post_status(self.obj, status, actor_id=actor_id, reason=reason)
        if isinstance(self.obj, IdeaComment):
            return ideas.set_comment_status(self.obj, status)
        if isinstance(self.obj, IdeaUpdate):
            return ideas.set_update_status(self.obj, status, actor_id)
        if isinstance(self.obj, Idea):
            return ideas.set_visibility(self.obj, status, actor_id, reason)
        return set_reply_status(self.as_(Reply), status, actor_id=actor_id, reason=reason)

    @property
    def status(self) -> str:
        return self.obj.status

    @property
    def public(self) -> bool:
        if isinstance(self.obj, Idea):
            return self.obj.status not in ("pending_review", "rejected", "hidden", "deleted")
        return self.obj.status == "published"


def load(kind: str, target_id: int) -> Target:
    if kind == "post":
        post = get_post(target_id)
        return Target("post", post, post.board_id, post.author_id)
    if kind == "reply":
        reply = get_reply(target_id)
        post = get_or_404(Post, reply.post_id, "reply")
        return Target("reply", reply, post.board_id, reply.author_id)
    if kind == "idea":
        idea = get_idea(target_id)
        return Target("idea", idea, None, idea.creator_id)
    if kind == "idea_comment":
        comment = ideas.get_comment(target_id)
        return Target("idea_comment", comment, None, comment.author_id)
    if kind == "idea_update":
        update_row = ideas.get_update(target_id)
        return Target("idea_update", update_row, None, ideas.creator_of_update(update_row))
    raise ValidationFailed("unknown target type", details={"target_type": [f"one of {', '.join(TARGET_TYPES)}"]})


def load_many(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Content]:
    """Several targets by (kind, id), one query per kind (a page of the review queue); unknown kinds and rows that
    are gone are left out."""
    wanted: dict[str, set[int]] = {}
    for kind, target_id in keys:
        if kind in MODELS:
            wanted.setdefault(kind, set()).add(target_id)
    found: dict[tuple[str, int], Content] = {}
    for kind, ids in wanted.items():
        model: Any = MODELS[kind]  # each kind's own model (a union would lose its columns)
        for row in db.session.scalars(select(model).where(model.id.in_(ids))):
            found[(kind, row.id)] = row
    return found
