"""A small key-value interface over Redis, with an in-process twin for the embedded default.

Everything kept here is a projection (counters, leaderboards, rate windows, token blocklist, caches) that the
database can rebuild, so callers treat `StoreUnavailable` as "degrade", never as a reason to fail a request.
"""

import fnmatch
import threading
import time
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


class StoreUnavailable(Exception):
    """The store could not be reached; the caller falls back to the database or skips the projection."""


class Store(Protocol):
    backend: str

    def ping(self) -> bool: ...
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, ttl: int | None = None, only_if_new: bool = False) -> bool: ...
    def delete(self, *keys: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int: ...
    def getdel(self, key: str) -> str | None: ...
    def sadd(self, key: str, *members: str) -> int: ...
    def spop(self, key: str, count: int) -> list[str]: ...
    def zincrby(self, key: str, amount: float, member: str) -> float: ...
    def zadd(self, key: str, mapping: dict[str, float]) -> int: ...
    def zscore(self, key: str, member: str) -> float | None: ...
    def zrevrank(self, key: str, member: str) -> int | None: ...
    def zrevrange(self, key: str, start: int, stop: int) -> list[tuple[str, float]]: ...
    def zrem(self, key: str, *members: str) -> int: ...
    def keys(self, pattern: str) -> list[str]: ...
    def flush(self) -> None: ...


class MemoryStore:
    """Thread-safe in-process store with per-key expiry; one per process, like a private Redis."""

    backend = "memory"

    def __init__(self) -> None:
        self._data: dict[str, object] = {}
        self._expires: dict[str, float] = {}
        self._lock = threading.RLock()

    def _live(self, key: str) -> bool:
        deadline = self._expires.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._data.pop(key, None)
            self._expires.pop(key, None)
        return key in self._data

    def _expire(self, key: str, ttl: int | None) -> None:
        if ttl is not None:
            self._expires[key] = time.monotonic() + ttl

    def ping(self) -> bool:
        return True

    def get(self, key):
        with self._lock:
            return str(self._data[key]) if self._live(key) else None

    def set(self, key, value, ttl=None, only_if_new=False):
        with self._lock:
            if only_if_new and self._live(key):
                return False
            self._data[key] = str(value)
            self._expires.pop(key, None)
            self._expire(key, ttl)
            return True

    def delete(self, *keys):
        with self._lock:
            removed = 0
            for key in keys:
                if self._live(key):
                    removed += 1
                self._data.pop(key, None)
                self._expires.pop(key, None)
            return removed

    def exists(self, key):
        with self._lock:
            return self._live(key)

    def incr(self, key, amount=1, ttl=None):
        with self._lock:
            fresh = not self._live(key)
            value = (0 if fresh else int(self._data[key])) + amount
            self._data[key] = str(value)
            if fresh:
                self._expire(key, ttl)
            return value

    def getdel(self, key):
        with self._lock:
            value = self.get(key)
            self.delete(key)
            return value

    def sadd(self, key, *members):
        with self._lock:
            if not self._live(key):
                self._data[key] = set()
            current = self._data[key]
            assert isinstance(current, set)
            before = len(current)
            current.update(members)
            return len(current) - before

    def spop(self, key, count):
        with self._lock:
            if not self._live(key):
                return []
            members = self._data[key]
            assert isinstance(members, set)
            popped = [members.pop() for _ in range(min(count, len(members)))]
            if not members:
                self.delete(key)
            return popped

    def _zset(self, key: str) -> dict[str, float]:
        if not self._live(key):
            self._data[key] = {}
        zset = self._data[key]
        assert isinstance(zset, dict)
        return zset

    def zincrby(self, key, amount, member):
        with self._lock:
            zset = self._zset(key)
            zset[member] = zset.get(member, 0.0) + amount
            return zset[member]

    def zadd(self, key, mapping):
        with self._lock:
            zset = self._zset(key)
            added = sum(1 for m in mapping if m not in zset)
            zset.update({m: float(s) for m, s in mapping.items()})
            return added

    def zscore(self, key, member):
        with self._lock:
            return self._zset(key).get(member)

    def _ordered(self, key: str) -> list[tuple[str, float]]:
        # Redis orders equal scores by member, descending for ZREVRANGE.
        return sorted(self._zset(key).items(), key=lambda item: (item[1], item[0]), reverse=True)

    def zrevrank(self, key, member):
        with self._lock:
            for rank, (name, _) in enumerate(self._ordered(key)):
                if name == member:
                    return rank
            return None

    def zrevrange(self, key, start, stop):
        with self._lock:
            ordered = self._ordered(key)
            end = None if stop == -1 else stop + 1
            return ordered[start:end]

    def zrem(self, key, *members):
        with self._lock:
            zset = self._zset(key)
            return sum(1 for m in members if zset.pop(m, None) is not None)

    def keys(self, pattern):
        with self._lock:
            return [k for k in list(self._data) if self._live(k) and fnmatch.fnmatchcase(k, pattern)]

    def flush(self):
        with self._lock:
            self._data.clear()
            self._expires.clear()


class RedisStore:
    """Redis behind the same interface. After a failure it stays 'open' for a short cool-down so a dead Redis
    costs one timeout, not one per call."""

    backend = "redis"

    def __init__(self, url: str, prefix: str = "", cooldown: float = 5.0, timeout: float = 0.5) -> None:
        # One immediate retry replaces a pooled connection that died while Redis was away.
        self._client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
        self._prefix = prefix
        self._cooldown = cooldown
        self._down_until = 0.0

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _run(self, thunk):
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("redis is cooling down after a failure")
        try:
            return thunk()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self._cooldown
            raise StoreUnavailable(str(exc)) from exc

    def _call(self, method: str, *args, **kwargs):
        return self._run(lambda: getattr(self._client, method)(*args, **kwargs))

    def ping(self):
        return bool(self._call("ping"))

    def get(self, key):
        return self._call("get", self._k(key))

    def set(self, key, value, ttl=None, only_if_new=False):
        return bool(self._call("set", self._k(key), value, ex=ttl, nx=only_if_new))

    def delete(self, *keys):
        return int(self._call("delete", *[self._k(k) for k in keys])) if keys else 0

    def exists(self, key):
        return bool(self._call("exists", self._k(key)))

    def incr(self, key, amount=1, ttl=None):
        value = int(self._call("incrby", self._k(key), amount))
        if ttl is not None and value == amount:
            self._call("expire", self._k(key), ttl, nx=True)
        return value

    def getdel(self, key):
        return self._call("getdel", self._k(key))

    def sadd(self, key, *members):
        return int(self._call("sadd", self._k(key), *members))

    def spop(self, key, count):
        return list(self._call("spop", self._k(key), count) or [])

    def zincrby(self, key, amount, member):
        return float(self._call("zincrby", self._k(key), amount, member))

    def zadd(self, key, mapping):
        return int(self._call("zadd", self._k(key), mapping))

    def zscore(self, key, member):
        return self._call("zscore", self._k(key), member)

    def zrevrank(self, key, member):
        return self._call("zrevrank", self._k(key), member)

    def zrevrange(self, key, start, stop):
        return [(m, float(s)) for m, s in self._call("zrevrange", self._k(key), start, stop, withscores=True)]

    def zrem(self, key, *members):
        return int(self._call("zrem", self._k(key), *members))

    def _scan(self, pattern: str) -> list[str]:
        # scan_iter is lazy, so the iteration itself has to run inside the guard.
        return self._run(lambda: list(self._client.scan_iter(self._k(pattern), count=500)))

    def keys(self, pattern):
        cut = len(self._prefix)
        return [k[cut:] for k in self._scan(pattern)]

    def flush(self):
        keys = self._scan("*")
        if keys:
            self._call("delete", *keys)


def make_store(redis_url: str | None, prefix: str = "") -> Store:
    return RedisStore(redis_url, prefix=prefix) if redis_url else MemoryStore()


def current_store() -> Store:
    from flask import current_app

    return current_app.extensions["store"]
