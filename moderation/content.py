"""Looking up reportable / moderatable content (posts and replies) uniformly."""

from dataclasses import dataclass
from typing import TypeVar

from c2b import ideas
from c2b.ideas import Idea, IdeaComment, IdeaUpdate, get_idea
from forum.posts import Post, get_post, set_post_status
from forum.replies import Reply, get_reply, set_reply_status
from kernel.errors import ValidationFailed
from kernel.sql import get_or_404

TARGET_TYPES = ("post", "reply", "idea", "idea_comment", "idea_update")
T = TypeVar("T")


@dataclass
class Target:
    kind: str
    obj: Post | Reply | Idea | IdeaComment | IdeaUpdate
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
