"""Small catalogues read on hot paths (earning rules, tasks, rule badges, sensitive words), cached in each process.

A copy is kept per application with the catalogue's version from the store. A change marks the catalogue stale in
its unit of work; once that commits, this process drops its copy and the store's version moves on, so every other
worker sees the change the next time it compares versions (at most `RECHECK_SECONDS` later). Without the store a
copy lives `RECHECK_SECONDS` only, and no copy outlives `MAX_AGE_SECONDS` whatever the store says.

Copies must be plain values (snapshots), never ORM objects bound to a session.
"""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from kernel.db import db
from kernel.store import StoreUnavailable, current_store

T = TypeVar("T")
RECHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 60.0
_STALE = "stale_catalogues"


@dataclass
class _Copy:
    value: Any
    version: str | None
    loaded: float
    checked: float


class Catalogue(Generic[T]):
    def __init__(self, name: str, load: Callable[[], T]) -> None:
        self.name = name
        self._load = load

    @property
    def _version_key(self) -> str:
        return f"catalogue:{self.name}:version"

    def _copies(self) -> dict[str, _Copy]:
        return current_app.extensions.setdefault("catalogues", {})

    def get(self) -> T:
        copies = self._copies()
        copy = copies.get(self.name)
        now = time.monotonic()
        if copy is not None and (now - copy.checked < RECHECK_SECONDS):
            return copy.value
        version = self._stored_version()
        fresh_enough = copy is not None and now - copy.loaded < MAX_AGE_SECONDS
        if copy is not None and fresh_enough and version is not None and version == copy.version:
            copy.checked = now
            return copy.value
        value = self._load()
        copies[self.name] = _Copy(value, version, now, now)
        return value

    def _stored_version(self) -> str | None:
        try:
            return current_store().get(self._version_key) or "0"
        except StoreUnavailable:
            return None

    def changed(self, session: Session | None = None) -> None:
        """Call inside the unit of work that changes the catalogue; takes effect when it commits."""
        (session or db.session()).info.setdefault(_STALE, set()).add(self)

    def forget(self) -> None:
        self._copies().pop(self.name, None)
        with contextlib.suppress(StoreUnavailable):
            current_store().incr(self._version_key)


@event.listens_for(Session, "after_commit")
def _publish_changes(session: Session) -> None:
    stale = session.info.pop(_STALE, set())
    if stale and has_app_context():
        for catalogue in stale:
            catalogue.forget()


@event.listens_for(Session, "after_rollback")
def _drop_changes(session: Session) -> None:
    session.info.pop(_STALE, None)
