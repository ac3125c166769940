"""Idempotency keys with request fingerprints, as payment APIs keep them.

A key names one request of one member to one operation. The first use records a fingerprint of the request
(method, path and canonical JSON body); a repeat with the same fingerprint within KEY_LIFETIME replays the first
result (the operation's own service finds it by the key), a repeat with another body is refused, and a key older
than KEY_LIFETIME is refused rather than silently applied twice.
"""

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import ValidationFailed

KEY_LIFETIME = timedelta(hours=24)


class IdempotencyKey(Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key", name="uq_idempotency_keys_user_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(80))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(user_id: int, scope: str, key: str, request_fingerprint: str) -> None:
    """Record the key's first use, or check that this request is the same one; raise 422 otherwise."""
    row = IdempotencyKey(user_id=user_id, scope=scope, key=key, fingerprint=request_fingerprint, created_at=clock.now())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # used before (perhaps by a request that committed a moment ago)
        first = db.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
            )
        )
        if first is None:  # pragma: no cover - the row that collided cannot vanish
            raise
        _check_repeat(first, request_fingerprint)


def _check_repeat(first: IdempotencyKey, request_fingerprint: str) -> None:
    if first.fingerprint != request_fingerprint:
        raise ValidationFailed(
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
            details={"Idempotency-Key": ["use a new key for a new request"]},
        )
    if clock.now() - first.created_at > KEY_LIFETIME:
        raise ValidationFailed(
            "this Idempotency-Key has expired",
            code="idempotency_key_expired",
            details={"Idempotency-Key": [f"keys live {int(KEY_LIFETIME.total_seconds() // 3600)} hours"]},
        )
