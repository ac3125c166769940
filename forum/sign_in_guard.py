"""Failed password sign-ins counted per account, whatever address they come from.

Address limits alone let an attacker rotate addresses against one account; after SIGN_IN_FAILURE_LIMIT failures
(default 10 per 15 minutes) the account refuses password sign-ins with 429 until the window ends. Windows live in
the store; if it is unreachable the guard is skipped (address limits and argon2's cost still apply).
"""

import time

from flask import current_app
from limits import parse_many
from limits.strategies import FixedWindowRateLimiter

from kernel.errors import RateLimited
from kernel.limits_storage import CommunityStoreStorage
from kernel.store import StoreUnavailable

NAMESPACE = "sign-in-failures"
_limiter = FixedWindowRateLimiter(CommunityStoreStorage())


def _items():
    return parse_many(current_app.config["SIGN_IN_FAILURE_LIMIT"])


def ensure_allowed(account_key: str) -> None:
    try:
        for item in _items():
            if not _limiter.test(item, NAMESPACE, account_key):
                reset_at = _limiter.get_window_stats(item, NAMESPACE, account_key).reset_time
                raise RateLimited(
                    "too many failed sign-ins for this account — try again later",
                    code="sign_in_locked",
                    retry_after=int(reset_at - time.time()) + 1,
                    details={"limit": str(item)},
                )
    except StoreUnavailable:
        return


def record_failure(account_key: str) -> None:
    try:
        for item in _items():
            _limiter.hit(item, NAMESPACE, account_key)
    except StoreUnavailable:
        return
