"""Tokens and access control for the HTTP layer.

Access tokens (15 min) and refresh tokens (30 days) share a family id (`fam`) naming their sign-in session.
Every request checks its session row by primary key: revocation lives in the database only, so no store restart,
flush or outage can bring an ended session back, and every worker agrees at once.
Roles ride in the claims for clients, but every staff check reads the member's current role from the database.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    current_user,
    get_jwt,
    verify_jwt_in_request,
)

from api import logs
from api.errors import documented_errors, error_response
from api.extensions import jwt
from forum import auth_sessions, policies
from forum.members import User, ensure_can_sign_in, signed_in_member
from kernel.db import db
from kernel.errors import Forbidden

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def issue_tokens(user: User) -> dict:
    """Open a sign-in session and mint its first token pair."""
    refresh_jti = auth_sessions.new_jti()
    family = auth_sessions.open_session(user.id, refresh_jti).id
    return _mint(user, family, refresh_jti)


def rotate_refresh(user: User) -> dict:
    """Exchange the presented refresh token for a new pair; a replayed token revokes the family."""
    claims = get_jwt()
    next_jti = auth_sessions.new_jti()
    auth_sessions.rotate(claims["fam"], presented_jti=claims["jti"], next_jti=next_jti)
    return _mint(user, claims["fam"], next_jti)


def _mint(user: User, family: str, refresh_jti: str) -> dict:
    claims = {"role": user.role, "fam": family}
    return {
        "access_token": create_access_token(identity=str(user.id), additional_claims=claims),
        # The refresh token's jti is the one the session row expects next.
        "refresh_token": create_refresh_token(identity=str(user.id), additional_claims={**claims, "jti": refresh_jti}),
        "token_type": "Bearer",
        "expires_in": int(current_app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()),
        "refresh_expires_in": int(current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()),
    }


def current_family() -> str:
    return get_jwt()["fam"]


def revoke_current_family(reason: str) -> None:
    auth_sessions.revoke(current_family(), reason=reason)


def init_jwt(app: Flask) -> None:
    @jwt.token_in_blocklist_loader
    def is_revoked(_header, payload) -> bool:
        # The session and its member in one query, kept for the user lookup that follows.
        family = payload.get("fam")
        g.signed_in_member = member = signed_in_member(family, int(payload["sub"])) if family else None
        return member is None

    @jwt.user_lookup_loader
    def load_user(_header, payload) -> User | None:
        member = g.pop("signed_in_member", None)
        if member is not None and member.id == int(payload["sub"]):
            return member
        return db.session.get(User, int(payload["sub"]))

    def unauthenticated(code: str, message: str) -> Response:
        return error_response(401, code, message, headers={"WWW-Authenticate": "Bearer"})

    jwt.unauthorized_loader(lambda reason: unauthenticated("unauthenticated", "sign in first"))
    jwt.invalid_token_loader(lambda reason: unauthenticated("invalid_token", "the token is not valid"))
    jwt.expired_token_loader(lambda h, p: unauthenticated("token_expired", "the token has expired"))
    jwt.revoked_token_loader(lambda h, p: unauthenticated("token_revoked", "this session has ended"))
    jwt.user_lookup_error_loader(lambda h, p: unauthenticated("unauthenticated", "the account no longer exists"))
    jwt.needs_fresh_token_loader(lambda h, p: unauthenticated("fresh_token_required", "sign in again"))
    jwt.token_verification_failed_loader(lambda h, p: unauthenticated("invalid_token", "the token is not valid"))


def current_member() -> User:
    return current_user


def auth_required(blp, *roles: str, refresh: bool = False, optional: bool = False) -> Callable:
    """Require a valid token (and, when roles are given, one of them, read from the database).

    Also documents the bearer requirement and the 401/403 answers in OpenAPI.
    """

    def decorate(func) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(*args, **kwargs) -> Any:
            verify_jwt_in_request(refresh=refresh, optional=optional)
            user = current_user if get_jwt() else None
            if user is not None:
                logs.bind_member(user.id)
                ensure_can_sign_in(user)
                if roles and not user.has_role(*roles):
                    raise Forbidden(
                        "your role does not allow this", code="role_required", details={"roles": list(roles)}
                    )
                if request.method in WRITES and not refresh and not getattr(func, "policy_exempt", False):
                    policies.ensure_accepted(user)
            return func(*args, **kwargs)

        # Optional routes still refuse a token that is present but invalid, expired or revoked.
        documented = documented_errors(blp, *((401,) if optional else (401, 403)))(wrapper)
        return blp.doc(security=BEARER if not optional else [{}, *BEARER])(documented)

    return decorate


WRITES = ("POST", "PUT", "PATCH", "DELETE")


def policy_exempt(view: Callable) -> Callable:
    """A write a member may make without accepting new policy versions: accepting them, signing out, and the
    rights the law gives whatever the terms say (deleting the account, exporting one's data)."""
    view.policy_exempt = True  # type: ignore[attr-defined]
    return view


def current_viewer() -> User | None:
    """The signed-in member on routes where signing in is optional."""
    return current_user if get_jwt() else None
