"""A small key-value interface over Redis, with a SQLite twin (shared by all local workers) for the embedded default.

Everything kept here is a projection (counters, leaderboards, rate windows, token blocklist, caches) that the
database can rebuild, so callers treat `StoreUnavailable` as "degrade", never as a reason to fail a request.
"""

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
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
    def get_many(self, *keys: str) -> list[str | None]: ...
    def set(self, key: str, value: str, ttl: int | None = None, only_if_new: bool = False) -> bool: ...
    def delete(self, *keys: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def ttl(self, key: str) -> int | None: ...
    def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int: ...
    def incr_marking(self, key: str, set_key: str, member: str) -> int: ...
    def getdel(self, key: str) -> str | None: ...
    def sadd(self, key: str, *members: str) -> int: ...
    def spop(self, key: str, count: int) -> list[str]: ...
    def zincrby_many(self, changes: Iterable[tuple[str, float, str]]) -> None: ...
    def zadd(self, key: str, mapping: dict[str, float]) -> int: ...
    def zscore(self, key: str, member: str) -> float | None: ...
    def zrevrank(self, key: str, member: str) -> int | None: ...
    def zrevrange(self, key: str, start: int, stop: int) -> list[tuple[str, float]]: ...
    def zrem(self, key: str, *members: str) -> int: ...
    def keys(self, pattern: str) -> list[str]: ...
    def flush(self) -> None: ...


class SQLiteStore:
    """The embedded default: a small SQLite file that every worker process on the machine shares.

    Several gunicorn workers without Redis must see the same rate-limit windows, view buffers and caches, so the
    store cannot live in one process's memory. SQLite in WAL mode serialises writers with a file lock; each
    read-modify-write runs in one `BEGIN IMMEDIATE` transaction. It is slower than Redis (a write is an fsync-free
    file update, tens of microseconds) and bound to one machine: beyond one machine, set REDIS_URL.
    Expiry uses wall-clock time, since the processes share no monotonic clock.
    """

    backend = "sqlite"
    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS store_values (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)",
        "CREATE TABLE IF NOT EXISTS store_members (key TEXT NOT NULL, member TEXT NOT NULL, score REAL NOT NULL,"
        " PRIMARY KEY (key, member))",
        "CREATE INDEX IF NOT EXISTS store_values_expiry ON store_values (expires_at) WHERE expires_at IS NOT NULL",
    )
    _LIVE = "(expires_at IS NULL OR expires_at > ?)"
    PURGE_EVERY = 1000  # writes between sweeps of expired keys

    def __init__(self, path: str, prefix: str = "") -> None:
        self._path = path
        self._prefix = prefix
        self._local = threading.local()
        self._writes = 0
        with self._tx() as conn:
            for statement in self._SCHEMA:
                conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # a forked worker opens its own connection
            conn = sqlite3.connect(self._path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _tx(self):
        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        self._writes += 1
        if self._writes % self.PURGE_EVERY == 0:
            self._purge_expired()

    def _read(self, sql: str, *params) -> list[tuple]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _purge_expired(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn().execute("DELETE FROM store_values WHERE expires_at <= ?", (time.time(),))

    def _k(self, key: str) -> str:
        return self._prefix + key

    @staticmethod
    def _deadline(ttl: int | None) -> float | None:
        return None if ttl is None else time.time() + ttl

    def ping(self):
        self._read("SELECT 1")
        return True

    def get(self, key):
        rows = self._read(f"SELECT value FROM store_values WHERE key = ? AND {self._LIVE}", self._k(key), time.time())
        return rows[0][0] if rows else None

    def get_many(self, *keys):
        wanted = [self._k(k) for k in keys]
        marks = ",".join("?" * len(wanted))
        rows = self._read(
            f"SELECT key, value FROM store_values WHERE key IN ({marks}) AND {self._LIVE}", *wanted, time.time()
        )
        found = dict(rows)
        return [found.get(k) for k in wanted]

    def set(self, key, value, ttl=None, only_if_new=False):
        with self._tx() as conn:
            if only_if_new and self._live_value(conn, self._k(key)) is not None:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO store_values (key, value, expires_at) VALUES (?, ?, ?)",
                (self._k(key), str(value), self._deadline(ttl)),
            )
            return True

    def _live_value(self, conn: sqlite3.Connection, full_key: str) -> str | None:
        row = conn.execute(
            f"SELECT value FROM store_values WHERE key = ? AND {self._LIVE}", (full_key, time.time())
        ).fetchone()
        return row[0] if row else None

    def delete(self, *keys):
        removed = 0
        with self._tx() as conn:
            for key in map(self._k, keys):
                live = self._live_value(conn, key) is not None
                gone = conn.execute("DELETE FROM store_members WHERE key = ?", (key,)).rowcount
                conn.execute("DELETE FROM store_values WHERE key = ?", (key,))
                removed += int(live or gone > 0)
        return removed

    def exists(self, key):
        return self.get(key) is not None or bool(
            self._read("SELECT 1 FROM store_members WHERE key = ? LIMIT 1", self._k(key))
        )

    def ttl(self, key):
        now = time.time()
        rows = self._read(f"SELECT expires_at FROM store_values WHERE key = ? AND {self._LIVE}", self._k(key), now)
        if not rows or rows[0][0] is None:
            return None
        return max(0, math.ceil(rows[0][0] - now))

    def incr(self, key, amount=1, ttl=None):
        with self._tx() as conn:
            current = self._live_value(conn, self._k(key))
            if current is None:
                value = amount
                conn.execute(
                    "INSERT OR REPLACE INTO store_values (key, value, expires_at) VALUES (?, ?, ?)",
                    (self._k(key), str(value), self._deadline(ttl)),
                )
            else:
                value = int(current) + amount
                conn.execute("UPDATE store_values SET value = ? WHERE key = ?", (str(value), self._k(key)))
            return value

    def incr_marking(self, key, set_key, member):
        """Increment `key` and add `member` to the set `set_key`, in one round trip; the new value."""
        with self._tx() as conn:
            current = self._live_value(conn, self._k(key))
            value = int(current or 0) + 1
            conn.execute(
                "INSERT OR REPLACE INTO store_values (key, value, expires_at) VALUES (?, ?, NULL)",
                (self._k(key), str(value)),
            )
            conn.execute(
                "INSERT OR IGNORE INTO store_members (key, member, score) VALUES (?, ?, 0)", (self._k(set_key), member)
            )
            return value

    def getdel(self, key):
        with self._tx() as conn:
            value = self._live_value(conn, self._k(key))
            conn.execute("DELETE FROM store_values WHERE key = ?", (self._k(key),))
            return value

    def sadd(self, key, *members):
        with self._tx() as conn:
            return sum(
                conn.execute(
                    "INSERT OR IGNORE INTO store_members (key, member, score) VALUES (?, ?, 0)", (self._k(key), m)
                ).rowcount
                for m in members
            )

    def spop(self, key, count):
        with self._tx() as conn:
            popped = [
                row[0]
                for row in conn.execute(
                    "SELECT member FROM store_members WHERE key = ? LIMIT ?", (self._k(key), count)
                ).fetchall()
            ]
            conn.executemany(
                "DELETE FROM store_members WHERE key = ? AND member = ?", [(self._k(key), m) for m in popped]
            )
            return popped

    def zincrby_many(self, changes):
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO store_members (key, member, score) VALUES (?, ?, ?) "
                "ON CONFLICT (key, member) DO UPDATE SET score = score + excluded.score",
                [(self._k(key), member, float(amount)) for key, amount, member in changes],
            )

    def zadd(self, key, mapping):
        with self._tx() as conn:
            added = 0
            for member, score in mapping.items():
                added += conn.execute(
                    "INSERT OR IGNORE INTO store_members (key, member, score) VALUES (?, ?, ?)",
                    (self._k(key), member, float(score)),
                ).rowcount
                conn.execute(
                    "UPDATE store_members SET score = ? WHERE key = ? AND member = ?",
                    (float(score), self._k(key), member),
                )
            return added

    def zscore(self, key, member):
        rows = self._read("SELECT score FROM store_members WHERE key = ? AND member = ?", self._k(key), member)
        return float(rows[0][0]) if rows else None

    def zrevrank(self, key, member):
        score = self.zscore(key, member)
        if score is None:
            return None
        # Redis orders equal scores by member, descending for ZREVRANK.
        rows = self._read(
            "SELECT count(*) FROM store_members WHERE key = ? AND (score > ? OR (score = ? AND member > ?))",
            self._k(key),
            score,
            score,
            member,
        )
        return int(rows[0][0])

    def zrevrange(self, key, start, stop):
        limit = -1 if stop == -1 else stop - start + 1
        rows = self._read(
            "SELECT member, score FROM store_members WHERE key = ? ORDER BY score DESC, member DESC LIMIT ? OFFSET ?",
            self._k(key),
            limit,
            start,
        )
        return [(m, float(s)) for m, s in rows]

    def zrem(self, key, *members):
        with self._tx() as conn:
            return sum(
                conn.execute("DELETE FROM store_members WHERE key = ? AND member = ?", (self._k(key), m)).rowcount
                for m in members
            )

    def keys(self, pattern):
        now = time.time()
        rows = self._read(
            f"SELECT key FROM store_values WHERE key GLOB ? AND {self._LIVE} "
            "UNION SELECT DISTINCT key FROM store_members WHERE key GLOB ?",
            self._k(pattern),
            now,
            self._k(pattern),
        )
        cut = len(self._prefix)
        return [row[0][cut:] for row in rows]

    def flush(self):
        pattern = self._k("*")
        with self._tx() as conn:
            conn.execute("DELETE FROM store_values WHERE key GLOB ?", (pattern,))
            conn.execute("DELETE FROM store_members WHERE key GLOB ?", (pattern,))


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

    def get_many(self, *keys):
        return self._call("mget", [self._k(k) for k in keys])

    def set(self, key, value, ttl=None, only_if_new=False):
        return bool(self._call("set", self._k(key), value, ex=ttl, nx=only_if_new))

    def delete(self, *keys):
        return int(self._call("delete", *[self._k(k) for k in keys])) if keys else 0

    def exists(self, key):
        return bool(self._call("exists", self._k(key)))

    def ttl(self, key):
        seconds = int(self._call("ttl", self._k(key)))
        return seconds if seconds >= 0 else None  # -1: no expiry, -2: no key

    def incr(self, key, amount=1, ttl=None):
        value = int(self._call("incrby", self._k(key), amount))
        if ttl is not None and value == amount:
            self._call("expire", self._k(key), ttl, nx=True)
        return value

    def incr_marking(self, key, set_key, member):
        def both() -> int:
            pipe = self._client.pipeline(transaction=False)
            pipe.incr(self._k(key))
            pipe.sadd(self._k(set_key), member)
            return int(pipe.execute()[0])

        return self._run(both)

    def getdel(self, key):
        return self._call("getdel", self._k(key))

    def sadd(self, key, *members):
        return int(self._call("sadd", self._k(key), *members))

    def spop(self, key, count):
        return list(self._call("spop", self._k(key), count) or [])

    def zincrby_many(self, changes):
        def together() -> None:  # one round trip for the lot
            pipe = self._client.pipeline(transaction=False)
            for key, amount, member in changes:
                pipe.zincrby(self._k(key), amount, member)
            pipe.execute()

        self._run(together)

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


def make_store(redis_url: str | None, sqlite_path: str, prefix: str = "") -> Store:
    return RedisStore(redis_url, prefix=prefix) if redis_url else SQLiteStore(sqlite_path, prefix=prefix)


def current_store() -> Store:
    from flask import current_app

    return current_app.extensions["store"]
