"""The signed-in member's own profile and other members' public profiles."""

import marshmallow as ma

from api.auth import auth_required, current_family, current_member
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.schemas import PrivateProfile, PublicProfile
from forum import members
from forum.members import User
from forum.names import DISPLAY_NAME_RE
from moderation import publishing, staff

blp = Blueprint("members", __name__, url_prefix="/api/v1", description="Members and profiles")


class ProfilePatch(ma.Schema):
    display_name = ma.fields.String(
        validate=ma.validate.Length(min=1, max=48),
        metadata={"pattern": DISPLAY_NAME_RE.pattern, "description": "checked after NFKC and collapsing spaces"},
    )
    bio = ma.fields.String(validate=ma.validate.Length(max=500))
    region = ma.fields.String(validate=ma.validate.Length(max=64))


class PasswordChange(ma.Schema):
    current_password = ma.fields.String(load_default="", validate=ma.validate.Length(max=128))
    new_password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))


@blp.route("/me", methods=["GET"])
@auth_required(blp)
@blp.response(200, PrivateProfile)
def me() -> User:
    """The signed-in member's own profile, private fields included."""
    return current_member()


@blp.route("/me", methods=["PATCH"])
@auth_required(blp)
@blp.arguments(ProfilePatch, required=False)
@blp.response(200, PrivateProfile)
@documented_errors(blp, 409)
def update_me(body) -> User:
    """Change display name, bio or region (names with listed words are refused; bios are masked)."""
    user = publishing.update_profile(current_member(), **body)
    return user


class PasswordChanged(ma.Schema):
    other_sessions_ended = ma.fields.Integer(
        required=True, metadata={"description": "sign-in sessions on other devices that were ended"}
    )


@blp.route("/me/password", methods=["POST"])
@auth_required(blp)
@blp.arguments(PasswordChange)
@blp.response(200, PasswordChanged)
@documented_errors(blp, 403, 422)
def change_password(body) -> dict:
    """Set a new password (WeChat members may set a first one); every other sign-in session ends, this one stays."""
    ended = members.change_password(
        current_member(), body["current_password"], body["new_password"], keep_session=current_family()
    )
    return {"other_sessions_ended": ended}


@blp.route("/users/<int:user_id>", methods=["GET"])
@blp.response(200, PublicProfile)
@documented_errors(blp, 404)
def public_profile(user_id: int) -> User:
    """A member's public profile (no private fields)."""
    return members.get_user(user_id)


class RoleIn(ma.Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(members.ROLES))


@blp.route("/users/<int:user_id>/role", methods=["PUT"])
@auth_required(blp, "admin")
@blp.arguments(RoleIn)
@blp.response(200, PublicProfile)
@documented_errors(blp, 404, 409)
def set_role(body, user_id: int) -> User:
    """Assign a member's role (admins only; checked against the database, not the token)."""
    user = staff.set_role(current_member(), user_id, body["role"])
    return user
