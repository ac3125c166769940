"""Rate-limit windows kept in the community store, so every worker (and every server, with Redis) shares them.

The `limits` library (used by Flask-Limiter and by the per-action limits) finds this backend by its URI scheme,
`community://`. Each call reads the store of the current app.
"""

import time

from limits.storage import Storage

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
