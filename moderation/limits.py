"""Per-action rate limits for members (topics, replies, likes, reports…), in the spirit of Discourse.

Limits are strings like "6 per minute;200 per day", configurable per action; members below the trust level can
have stricter ones ("post:new_member"). Staff are exempt. Windows live in the store (Redis, or the SQLite file that
local workers share); if the store is unreachable the limit is skipped rather than failing the request.
"""

from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItem, parse_many

from forum.members import User
from kernel.limits_storage import count_use, ensure_within


@dataclass(frozen=True)
class Allowance:
    """What one member may do of one action, settled before the action runs: counting its use afterwards reads
    nothing of the member (whose row the action's commit has expired)."""

    action: str
    member_key: str
    items: list[RateLimitItem]  # none: exempt (staff, or limits off)


def allowance(action: str, user: User) -> Allowance:
    if not current_app.config["ACTION_LIMITS_ENABLED"] or user.is_staff:
        return Allowance(action, str(user.id), [])
    table = current_app.config["ACTION_LIMITS"]
    key = action
    if f"{action}:new_member" in table and user.level < current_app.config["NEW_MEMBER_LEVEL"]:
        key = f"{action}:new_member"
    spec = table.get(key)
    return Allowance(action, str(user.id), parse_many(spec) if spec else [])


def check(allowance: Allowance) -> None:
    """Refuse with 429 (and when to retry) if the member has used up this action's allowance."""
    if allowance.items:
        ensure_within(
            allowance.items,
            allowance.action,
            allowance.member_key,
            message=f"you can {allowance.action} at most {{limit}} — try again later",
            code="action_rate_limited",
            details={"action": allowance.action},
        )


def consume(allowance: Allowance) -> None:
    """Count one use of the action (called once it has succeeded)."""
    if allowance.items:
        count_use(allowance.items, allowance.action, allowance.member_key)
