"""Sign-in sessions: one row per refresh-token family, the source of truth for rotation and revocation.

Each refresh rotates the family's current token id with a conditional UPDATE, so two clients racing with the same
refresh token cannot both win; presenting a token that was already rotated away is treated as theft and revokes
the whole family (access tokens included, since they carry the family id).
"""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, update
from sqlalchemy.orm import Mapped, mapped_column

from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Unauthenticated
from kernel.sql import rows_changed


class AuthSession(Model):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    current_jti: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


def new_jti() -> str:
    return str(uuid.uuid4())


def open_session(user_id: int, refresh_jti: str) -> AuthSession:
    session = AuthSession(id=str(uuid.uuid4()), user_id=user_id, current_jti=refresh_jti, created_at=clock.now())
    db.session.add(session)
    db.session.flush()
    return session


def rotate(family: str, presented_jti: str, next_jti: str) -> AuthSession:
    """Swap the family's refresh token; raise if the presented one is not the current one."""
    rotated = rows_changed(
        update(AuthSession)
        .where(
            AuthSession.id == family,
            AuthSession.current_jti == presented_jti,
            AuthSession.revoked_at.is_(None),
        )
        .values(current_jti=next_jti, rotated_at=clock.now())
    )
    if rotated == 1:
        return db.session.get_one(AuthSession, family)
    session = db.session.get(AuthSession, family)
    if session is None or session.revoked_at is not None:
        raise Unauthenticated("this session has ended, sign in again", code="token_revoked")
    revoke(family, reason="refresh_reuse")
    raise Unauthenticated(
        "refresh token was already used; the session has been revoked",
        code="refresh_token_reused",
        keep_changes=True,  # the revocation must outlive the refused request
    )


def revoke(family: str, reason: str) -> bool:
    return (
        rows_changed(
            update(AuthSession)
            .where(AuthSession.id == family, AuthSession.revoked_at.is_(None))
            .values(revoked_at=clock.now(), revoked_reason=reason)
        )
        == 1
    )


def revoke_all(user_id: int, reason: str, keep: str | None = None) -> int:
    """End every open session of a member (a ban, a password change), except `keep`; returns how many."""
    query = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    return rows_changed(query.values(revoked_at=clock.now(), revoked_reason=reason))
