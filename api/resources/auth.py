"""Registration, sign-in (password and WeChat), token refresh and sign-out."""

import marshmallow as ma
from flask import current_app

from api.auth import auth_required, current_member, issue_tokens, revoke_current_family, rotate_refresh
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.extensions import limiter
from api.schemas import SignedIn, TokenPair
from forum import members
from forum.names import DISPLAY_NAME_RE, USERNAME_RE
from forum.wechat import WeChatClient
from moderation import publishing

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Accounts and tokens")


class RegisterIn(ma.Schema):
    username = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=40),
        metadata={"pattern": USERNAME_RE.pattern, "description": "checked after Unicode NFKC normalisation"},
    )
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=8, max=128))
    display_name = ma.fields.String(
        validate=ma.validate.Length(min=1, max=48),
        metadata={"pattern": DISPLAY_NAME_RE.pattern, "description": "checked after NFKC and collapsing spaces"},
    )


class LoginIn(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=128))


class WeChatIn(ma.Schema):
    code = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=128),
        metadata={"description": "the code from wx.login() in the mini-program"},
    )


SIGNED_IN_EXAMPLE = {
    "access_token": "eyJhbGciOiJIUzI1NiJ9.…",
    "refresh_token": "eyJhbGciOiJIUzI1NiJ9.…",
    "token_type": "Bearer",
    "expires_in": 900,
    "refresh_expires_in": 2592000,
    "created": False,
    "user": {
        "id": 42,
        "username": "xiaoming",
        "display_name": "小明",
        "level": 3,
        "showcase": [{"slug": "first-post", "name": "初来乍到", "tier": "bronze", "image_url": ""}],
        "bio": "城市街景爱好者",
        "region": "上海",
        "role": "member",
        "created_at": "2026-03-01T08:00:00+00:00",
        "last_login_at": "2026-11-28T09:30:00+00:00",
        "muted_until": None,
        "has_password": True,
    },
}


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _register_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def _signed_in(user, created: bool) -> dict:
    tokens = issue_tokens(user)
    return {**tokens, "user": user, "created": created}


@blp.route("/register", methods=["POST"])
@limiter.limit(_register_limit)
@blp.arguments(RegisterIn, example={"username": "xiaoming", "password": "积木搭起来2026", "display_name": "小明"})
@blp.response(201, SignedIn, example={**SIGNED_IN_EXAMPLE, "created": True})
@documented_errors(blp, 409, 429)
def register(body) -> dict:
    """Create an account with a username and password."""
    user = publishing.register(body["username"], body["password"], body.get("display_name"))
    return _signed_in(user, created=True)


@blp.route("/login", methods=["POST"])
@limiter.limit(_login_limit)
@blp.arguments(LoginIn, example={"username": "xiaoming", "password": "积木搭起来2026"})
@blp.response(200, SignedIn, example=SIGNED_IN_EXAMPLE)
@documented_errors(blp, 401, 403, 429)
def login(body) -> dict:
    """Sign in with a username and password (rate-limited per client address)."""
    user = members.authenticate(body["username"], body["password"])
    return _signed_in(user, created=False)


@blp.route("/wechat", methods=["POST"])
@limiter.limit(_login_limit)
@blp.arguments(WeChatIn, example={"code": "0a3Xy1000abcDEF2Gh3i4Jk5Lm6No7P8"})
@blp.response(200, SignedIn, example=SIGNED_IN_EXAMPLE)
@documented_errors(blp, 401, 403, 429, 503)
def wechat(body) -> dict:
    """Sign in from the mini-program: exchanges the wx.login() code with WeChat (code2Session)."""
    cfg = current_app.config
    client = WeChatClient(cfg["WECHAT_API_BASE"], cfg["WECHAT_APPID"], cfg["WECHAT_SECRET"], cfg["WECHAT_TIMEOUT"])
    session = client.code_to_session(body["code"])
    user, created = members.sign_in_with_wechat(session.openid, session.unionid, session.session_key)
    return _signed_in(user, created=created)


@blp.route("/refresh", methods=["POST"])
@auth_required(blp, refresh=True)
@blp.response(200, TokenPair)
def refresh() -> dict:
    """Exchange a refresh token (in the Authorization header) for a new pair; each refresh token works once."""
    tokens = rotate_refresh(current_member())
    return tokens


@blp.route("/logout", methods=["POST"])
@auth_required(blp)
@blp.response(204)
def logout() -> None:
    """End this sign-in session: its access and refresh tokens stop working."""
    revoke_current_family("logout")
