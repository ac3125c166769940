"""Members: accounts, roles, profiles, password and WeChat sign-in."""

import contextlib
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forum import auth_sessions, sign_in_guard
from forum.names import canonical, clean_display_name, clean_username, lookalike_skeletons, skeleton
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, Unauthenticated, ValidationFailed
from kernel.sql import as_loaded, column_rows, get_or_404, unique_or_refuse

ROLES = ("member", "moderator", "operator", "product", "fulfilment", "admin")
STAFF_ROLES = ("moderator", "operator", "product", "fulfilment", "admin")


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40))
    username_key: Mapped[str] = mapped_column(String(80), unique=True)
    # UTS #39 skeleton: a new name may not look like an existing one ("аdmin" with a Cyrillic а).
    username_skeleton: Mapped[str | None] = mapped_column(String(160), index=True)
    display_name: Mapped[str] = mapped_column(String(48))
    display_name_key: Mapped[str] = mapped_column(String(96), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="member")
    bio: Mapped[str] = mapped_column(String(500), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    # Maintained by the economy from the contribution score; read by moderation's trust rules.
    level: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    banned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 注销: asked for at deletion_requested_at, erased by the job once deletion_due_at passes (signing in before
    # then cancels it); deleted_at marks an erased, anonymised account.
    deletion_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deletion_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    wechat: Mapped["WeChatIdentity | None"] = relationship(back_populates="user", uselist=False)

    def has_role(self, *roles: str) -> bool:
        """Admins hold every role; otherwise the member's single role must be listed."""
        return self.role == "admin" or self.role in roles

    def ensure_role(self, *roles: str, doing: str) -> None:
        """403 `role_required` unless the member holds one of `roles`; `doing` says what needed it."""
        if not self.has_role(*roles):
            raise Forbidden(
                f"only {' or '.join(roles)} staff may {doing}", code="role_required", details={"roles": list(roles)}
            )

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def muted_at(self, moment: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > moment


class WeChatIdentity(Model):
    """The mini-program identity. session_key is kept server-side only (needed to decrypt WeChat data)."""

    __tablename__ = "wechat_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    session_key: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="wechat")


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_KIB"])


def _check_password_strength(password: str) -> None:
    if not 8 <= len(password) <= 128:
        raise ValidationFailed("invalid password", code="weak_password", details={"password": ["8-128 characters"]})


def _name_taken(username_key: str | None = None, display_key: str | None = None, exclude: int | None = None):
    conditions = []
    if username_key:
        conditions.append(User.username_key == username_key)
    if display_key:
        conditions.append(User.display_name_key == display_key)
    query = select(User.id).where(*conditions)
    if exclude:
        query = query.where(User.id != exclude)
    return db.session.scalar(query.limit(1)) is not None


def _lookalike_taken(name: str) -> bool:
    found = select(User.id).where(User.username_skeleton.in_(sorted(lookalike_skeletons(name))))
    return db.session.scalar(found.limit(1)) is not None


def _unique_violation(exc: IntegrityError) -> Conflict:
    text = str(exc.orig).lower()
    if "display_name" in text:
        return Conflict("display name already taken", code="display_name_taken")
    return Conflict("username already taken", code="username_taken")


def register(username: str, password: str, display_name: str | None = None) -> User:
    name = clean_username(username)
    shown = clean_display_name(display_name or name)
    _check_password_strength(password)
    if _name_taken(username_key=canonical(name)) or _retired(canonical(name)):
        raise Conflict("username already taken", code="username_taken")
    if _lookalike_taken(name):
        raise Conflict("username looks like an existing one", code="username_confusable")
    if _name_taken(display_key=canonical(shown)):
        raise Conflict("display name already taken", code="display_name_taken")
    user = User(
        username=name,
        username_key=canonical(name),
        username_skeleton=skeleton(name),
        display_name=shown,
        display_name_key=canonical(shown),
        password_hash=_hasher().hash(password),
        role="member",
        bio="",
        region="",
        level=1,
        created_at=clock.now(),
    )
    with unique_or_refuse(_unique_violation):  # a concurrent sign-up took the name first
        db.session.add(user)
    return user


# Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH: str | None = None


def authenticate(username: str, password: str) -> User:
    global _DUMMY_HASH
    key = canonical(username.strip())
    sign_in_guard.ensure_allowed(key)
    user = db.session.scalar(select(User).where(User.username_key == key))
    hasher = _hasher()
    if user is None or user.password_hash is None:
        _DUMMY_HASH = _DUMMY_HASH or hasher.hash("not-a-real-password")
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH, password)
        sign_in_guard.record_failure(key)
        raise Unauthenticated("wrong username or password", code="invalid_credentials")
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError) as exc:
        sign_in_guard.record_failure(key)
        raise Unauthenticated("wrong username or password", code="invalid_credentials") from exc
    ensure_can_sign_in(user)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    _signed_in(user, clock.now())
    return user


def ensure_can_sign_in(user: User) -> None:
    if user.deleted_at is not None:
        raise Unauthenticated("this account was deleted", code="account_deleted")
    if user.banned_at is not None:
        raise Forbidden("this account is banned", code="account_banned")


def _signed_in(user: User, now: datetime) -> None:
    user.last_login_at = now
    # Signing in during the cooling-off period is how a member changes their mind about deleting the account.
    user.deletion_requested_at = user.deletion_due_at = None


class RetiredUsername(Model):
    """A deleted account's username, kept from re-registration for a while (RETIRED_USERNAME_DAYS) so nobody
    can pose as the member who left. Only a hash of the canonical name is kept: the name itself is erased."""

    __tablename__ = "retired_usernames"

    name_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)


def retired_name_hash(username_key: str) -> str:
    return hashlib.sha256(b"retired-username:" + username_key.encode()).hexdigest()


def _retired(username_key: str) -> bool:
    until = db.session.scalar(
        select(RetiredUsername.until).where(RetiredUsername.name_hash == retired_name_hash(username_key))
    )
    return until is not None and until > clock.now()


def request_deletion(user: User, days: int) -> User:
    """Ask for the account to be deleted after `days` of cooling off; every session ends now, and signing in
    again before the date cancels the request."""
    now = clock.now()
    if user.deletion_due_at is None:
        user.deletion_requested_at, user.deletion_due_at = now, now + timedelta(days=days)
    auth_sessions.revoke_all(user.id, reason="deletion_requested")
    return user


def get_user(user_id: int) -> User:
    return get_or_404(User, user_id, "user")


def update_profile(
    user: User, *, display_name: str | None = None, bio: str | None = None, region: str | None = None
) -> User:
    if display_name is not None:
        shown = clean_display_name(display_name)
        if _name_taken(display_key=canonical(shown), exclude=user.id):
            raise Conflict("display name already taken", code="display_name_taken")
        with unique_or_refuse(_unique_violation):
            user.display_name, user.display_name_key = shown, canonical(shown)
    if bio is not None:
        user.bio = bio.strip()
    if region is not None:
        user.region = region.strip()
    return user


def change_password(user: User, current: str, new: str, keep_session: str | None) -> int:
    """Set a new password and end every other sign-in session (a stolen token dies with the old password).

    Returns how many sessions were ended; `keep_session` (the caller's own) stays signed in.
    """
    if user.password_hash is not None:
        try:
            _hasher().verify(user.password_hash, current)
        except (VerificationError, InvalidHashError) as exc:
            raise Forbidden("current password is wrong", code="invalid_credentials") from exc
    _check_password_strength(new)
    user.password_hash = _hasher().hash(new)
    return auth_sessions.revoke_all(user.id, reason="password_changed", keep=keep_session)


def sign_in_with_wechat(openid: str, unionid: str | None, session_key: str) -> tuple[User, bool]:
    """Find or create the member behind a WeChat identity. Returns (member, created)."""
    now = clock.now()
    identity = db.session.scalar(select(WeChatIdentity).where(WeChatIdentity.openid == openid))
    if identity is None and unionid:
        identity = db.session.scalar(select(WeChatIdentity).where(WeChatIdentity.unionid == unionid))
    if identity is not None:
        identity.session_key = session_key
        identity.unionid = identity.unionid or unionid
        identity.updated_at = now
        ensure_can_sign_in(identity.user)
        _signed_in(identity.user, now)
        return identity.user, False
    user = _new_wechat_member(now)
    db.session.add(
        WeChatIdentity(user_id=user.id, openid=openid, unionid=unionid, session_key=session_key, updated_at=now)
    )
    db.session.flush()
    return user, True


def _new_wechat_member(now: datetime) -> User:
    # A generated handle; the member can choose a display name afterwards.
    for _ in range(5):
        suffix = secrets.token_hex(4)
        name, shown = f"wx_{suffix}", f"花粉{suffix}"
        if not _name_taken(username_key=canonical(name)) and not _name_taken(display_key=canonical(shown)):
            user = User(
                username=name,
                username_key=canonical(name),
                username_skeleton=skeleton(name),
                display_name=shown,
                display_name_key=canonical(shown),
                password_hash=None,
                role="member",
                bio="",
                region="",
                created_at=now,
                last_login_at=now,
            )
            db.session.add(user)
            db.session.flush()
            return user
    raise Conflict("could not allocate a member name, try again", code="name_allocation_failed")


def set_role(actor: User, target_id: int, role: str) -> User:
    """Admins grant and withdraw roles; nobody changes their own (no accidental self-lockout)."""
    if role not in ROLES:
        raise ValidationFailed("unknown role", code="invalid_role", details={"role": [f"one of {', '.join(ROLES)}"]})
    actor.ensure_role("admin", doing="assign roles")
    target = get_user(target_id)
    if target.id == actor.id:
        raise Conflict("you cannot change your own role", code="own_role")
    target.role = role
    return target


# Built once: every signed-in request runs it, and building it cost about as much as running it. Its row becomes
# the member's object without the ORM's loading (kernel.sql.as_loaded).
_SIGNED_IN = (
    select(*User.__table__.columns)
    .join(auth_sessions.AuthSession, auth_sessions.AuthSession.user_id == User.id)
    .where(
        auth_sessions.AuthSession.id == bindparam("family"),
        auth_sessions.AuthSession.revoked_at.is_(None),
        User.id == bindparam("user_id"),
    )
)


def signed_in_member(family: str, user_id: int) -> User | None:
    """The member of a sign-in session that has not ended, in one query (the member stays in the identity map, so
    the token's user lookup next costs nothing); None when the session ended or belongs to someone else."""
    row = column_rows(_SIGNED_IN, {"family": family, "user_id": user_id}).first()
    return None if row is None else as_loaded(User, row)
