"""Schemas shared across resources."""

import marshmallow as ma
from flask import Response


class DependencyStatus(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    backend = ma.fields.String(required=True)


def badge_out(badge) -> dict:
    """A pinned badge as it appears beside its holder (profiles, posts, floors)."""
    return {"slug": badge.slug, "name": badge.name, "tier": badge.tier, "image_url": badge.image_url}


class MemberSummary(ma.Schema):
    """How a member appears next to their content."""

    id = ma.fields.Integer()
    username = ma.fields.String()
    display_name = ma.fields.String()


class PublicProfile(MemberSummary):
    level = ma.fields.Integer()
    showcase = ma.fields.Method("_showcase", metadata={"description": "pinned badges (≤3): slug, name, tier"})
    bio = ma.fields.String()
    region = ma.fields.String()
    role = ma.fields.String(metadata={"description": "member, moderator, operator, product or admin"})
    created_at = ma.fields.DateTime()

    def _showcase(self, user) -> list[dict]:
        from economy.badges import pinned_badges

        return [badge_out(b) for b in pinned_badges([user.id])[user.id]]


class PrivateProfile(PublicProfile):
    last_login_at = ma.fields.DateTime(allow_none=True)
    muted_until = ma.fields.DateTime(allow_none=True)
    has_password = ma.fields.Function(lambda user: user.password_hash is not None)
    wechat_linked = ma.fields.Function(lambda user: user.wechat is not None)


class TokenPair(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True, metadata={"description": "access token lifetime, seconds"})
    refresh_expires_in = ma.fields.Integer(required=True)


class SignedIn(TokenPair):
    user = ma.fields.Nested(PrivateProfile, required=True)
    created = ma.fields.Boolean(metadata={"description": "true when this sign-in created the account"})


# How CSV exports appear in OpenAPI: a text body (UTF-8 with a BOM so spreadsheets read Chinese correctly).
CSV_BODY = {"type": "string", "description": "CSV, UTF-8 with BOM"}


def csv_response(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_BODY = {"type": "string", "format": "binary", "description": "an XLSX workbook"}


def xlsx_response(data: bytes, filename: str) -> Response:
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
