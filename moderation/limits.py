"""Per-action rate limits for members (topics, replies, likes, reports…), in the spirit of Discourse.

Limits are strings like "6 per minute;200 per day", configurable per action; members below the trust level can
have stricter ones ("post:new_member"). Staff are exempt. Windows live in Redis (or in-process without it); if
the store is unreachable the limit is skipped rather than failing the request.
"""

import time

import redis
from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from forum.members import User
from kernel.errors import RateLimited

_limiters: dict[str, FixedWindowRateLimiter] = {}


def _limiter() -> FixedWindowRateLimiter:
    uri = current_app.config["RATELIMIT_STORAGE_URI"]
    if uri not in _limiters:
        # Like the store: one immediate retry replaces a pooled connection that died while Redis was away.
        options = (
            {
                "retry": Retry(NoBackoff(), 1),
                "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
                "socket_timeout": 0.5,
                "socket_connect_timeout": 0.5,
            }
            if uri.startswith("redis")
            else {}
        )
        _limiters[uri] = FixedWindowRateLimiter(storage_from_string(uri, **options))
    return _limiters[uri]


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
    if _exempt(user):
        return
    limiter = _limiter()
    for item in _items(action, user):
        try:
            if not limiter.test(item, action, str(user.id)):
                reset_at = limiter.get_window_stats(item, action, str(user.id)).reset_time
                raise RateLimited(
                    f"you can {action} at most {item} — try again later",
                    code="action_rate_limited",
                    retry_after=int(reset_at - time.time()) + 1,
                    details={"action": action, "limit": str(item)},
                )
        except (ConnectionError, redis.RedisError):
            return


def consume(action: str, user: User) -> None:
    """Count one use of the action (called once it has succeeded)."""
    if _exempt(user):
        return
    limiter = _limiter()
    for item in _items(action, user):
        try:
            limiter.hit(item, action, str(user.id))
        except (ConnectionError, redis.RedisError):
            return


def reset() -> None:
    for limiter in _limiters.values():
        limiter.storage.reset()
