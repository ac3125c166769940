"""Who may do what to forum content; shared by posts and replies."""

from datetime import datetime

from forum import phones
from forum.boards import can_moderate
from forum.members import User
from kernel.errors import Forbidden


def ensure_can_contribute(user: User, now: datetime, action: str | None = None) -> None:
    """The one check point before any member writes content: banned and muted members are stopped here, and
    members without a bound phone where the community requires one for the `action`."""
    if user.banned_at is not None:
        raise Forbidden("this account is banned", code="account_banned")
    if user.muted_until is not None and user.muted_at(now):
        raise Forbidden("you are muted", code="member_muted", details={"muted_until": user.muted_until.isoformat()})
    if action is not None:
        phones.ensure_bound(user, action)


def ensure_author(user: User, author_id: int, what: str) -> None:
    if user.id != author_id:
        raise Forbidden(f"only the author can edit this {what}", code="not_author")


def ensure_author_or_moderator(user: User, author_id: int, board_id: int, what: str) -> None:
    if user.id != author_id and not can_moderate(user, board_id):
        raise Forbidden(f"you cannot remove this {what}", code="not_allowed")
