"""Per-action rate limits for members (topics, replies, likes, reports…), in the spirit of Discourse.

Limits are strings like "6 per minute;200 per day", configurable per action; members below the trust level can
have stricter ones ("post:new_member"). Staff are exempt. Windows live in the store (Redis, or the SQLite file that
local workers share); if the store is unreachable the limit is skipped rather than failing the request.
"""

from flask import current_app
from limits import RateLimitItem, parse_many

from forum.members import User
from kernel.limits_storage import count_use, ensure_within


def _items(action: str, user: User) -> list[RateLimitItem]:
    table = current_app.config["ACTION_LIMITS"]
    key = action
    if f"{action}:new_member" in table and user.level < current_app.config["NEW_MEMBER_LEVEL"]:
        key = f"{action}:new_member"
    spec = table.get(key)
    return parse_many(spec) if spec else []


def _exempt(user: User) -> bool:
    return user.is_staff or not current_app.config["ACTION_LIMITS_ENABLED"]


def check(action: str, user: User) -> None:
    """Refuse with 429 (and when to retry) if the member has used up this action's allowance."""
    if not _exempt(user):
        ensure_within(
            _items(action, user),
            action,
            str(user.id),
            message=f"you can {action} at most {{limit}} — try again later",
            code="action_rate_limited",
            details={"action": action},
        )


def consume(action: str, user: User) -> None:
    """Count one use of the action (called once it has succeeded)."""
    if not _exempt(user):
        count_use(_items(action, user), action, str(user.id))
