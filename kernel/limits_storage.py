"""Rate-limit windows kept in the community store, so every worker (and every server, with Redis) shares them.

The `limits` library (used by Flask-Limiter, the per-action limits and the sign-in guard) finds this backend by its
URI scheme, `community://`. Each call reads the store of the current app. `ensure_within` and `count_use` are the
two steps every member-level limit takes; both skip the limit when the store is unreachable (degrade, never 500).
"""

import time
from collections.abc import Iterable

from limits import RateLimitItem
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from kernel.errors import RateLimited
from kernel.store import StoreUnavailable, current_store

PREFIX = "limits:"


class CommunityStoreStorage(Storage):
    STORAGE_SCHEME = ["community"]

    @property
    def base_exceptions(self) -> type[Exception]:
        return StoreUnavailable

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return current_store().incr(PREFIX + key, amount, ttl=max(1, int(expiry)))

    def get(self, key: str) -> int:
        return int(current_store().get(PREFIX + key) or 0)

    def get_expiry(self, key: str) -> float:
        return time.time() + (current_store().ttl(PREFIX + key) or 0)

    def check(self) -> bool:
        try:
            return current_store().ping()
        except StoreUnavailable:
            return False

    def reset(self) -> int:
        store = current_store()
        keys = store.keys(PREFIX + "*")
        return store.delete(*keys) if keys else 0

    def clear(self, key: str) -> None:
        current_store().delete(PREFIX + key)


_windows = FixedWindowRateLimiter(CommunityStoreStorage())


def ensure_within(
    items: Iterable[RateLimitItem], namespace: str, key: str, *, message: str, code: str, details: dict
) -> None:
    """Refuse with 429 and a Retry-After when any window of `key` is used up."""
    try:
        for item in items:
            if not _windows.test(item, namespace, key):
                reset_at = _windows.get_window_stats(item, namespace, key).reset_time
                raise RateLimited(
                    message.format(limit=item),
                    code=code,
                    retry_after=int(reset_at - time.time()) + 1,
                    details={**details, "limit": str(item)},
                )
    except StoreUnavailable:
        return


def count_use(items: Iterable[RateLimitItem], namespace: str, key: str) -> None:
    try:
        for item in items:
            _windows.hit(item, namespace, key)
    except StoreUnavailable:
        return
