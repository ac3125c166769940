"""Badges (勋章): catalogue with rarity, members' badges and progress, showcase, staff awards."""

import marshmallow as ma

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.ids import MAX_ID
from economy import badges
from economy.badges import Badge, BadgeAward
from forum.members import get_user

blp = Blueprint("badges", __name__, url_prefix="/api/v1", description="Badges (勋章)")


class BadgeOut(ma.Schema):
    id = ma.fields.Integer()
    slug = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    image_url = ma.fields.String()
    tier = ma.fields.String(metadata={"description": "bronze, silver or gold"})
    category = ma.fields.String()
    repeatable = ma.fields.Boolean()
    enabled = ma.fields.Boolean()
    rule_metric = ma.fields.String(allow_none=True)
    rule_threshold = ma.fields.Integer(allow_none=True)
    reward_points = ma.fields.Integer()
    reward_contribution = ma.fields.Integer()


class CatalogueItem(BadgeOut):
    rarity = ma.fields.Float(metadata={"description": "share of members who hold it, 0..1"})


class Catalogue(ma.Schema):
    items = BoundedList(ma.fields.Nested(CatalogueItem), required=True)


class BadgeIn(ma.Schema):
    slug = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,39}$"))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))
    image_url = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))
    tier = ma.fields.String(required=True, validate=ma.validate.OneOf(badges.TIERS))
    category = ma.fields.String(load_default="community", validate=ma.validate.Length(min=1, max=24))
    repeatable = ma.fields.Boolean(load_default=False)
    enabled = ma.fields.Boolean(load_default=True)
    rule_metric = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(badges.METRICS))
    rule_threshold = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID)
    )
    reward_points = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100000))
    reward_contribution = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=100000))


class BadgePatch(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=60))
    description = ma.fields.String(validate=ma.validate.Length(max=300))
    image_url = ma.fields.String(validate=ma.validate.Length(max=300))
    tier = ma.fields.String(validate=ma.validate.OneOf(badges.TIERS))
    category = ma.fields.String(validate=ma.validate.Length(min=1, max=24))
    repeatable = ma.fields.Boolean()
    enabled = ma.fields.Boolean()
    rule_metric = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(badges.METRICS))
    rule_threshold = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    reward_points = ma.fields.Integer(validate=ma.validate.Range(min=0, max=100000))
    reward_contribution = ma.fields.Integer(validate=ma.validate.Range(min=0, max=100000))


class AwardOut(ma.Schema):
    id = ma.fields.Integer()
    badge = ma.fields.Nested(BadgeOut)
    user_id = ma.fields.Integer()
    sequence = ma.fields.Integer()
    awarded_at = ma.fields.DateTime()
    reason = ma.fields.String()
    revoked_at = ma.fields.DateTime(allow_none=True)


class ProgressOut(ma.Schema):
    badge = ma.fields.Nested(BadgeOut)
    metric = ma.fields.String()
    current = ma.fields.Integer()
    target = ma.fields.Integer()


class MemberBadges(ma.Schema):
    earned = BoundedList(ma.fields.Nested(AwardOut), required=True)
    showcase = BoundedList(ma.fields.Nested(BadgeOut), required=True)
    progress = BoundedList(
        ma.fields.Nested(ProgressOut), allow_none=True, metadata={"description": "only for the member themself"}
    )


class AwardIn(ma.Schema):
    user_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class RevokeIn(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=300))


class ShowcaseIn(ma.Schema):
    badge_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)),
        required=True,
        validate=ma.validate.Length(max=badges.SHOWCASE_SIZE),
    )


class ShowcaseOut(ma.Schema):
    items = BoundedList(ma.fields.Nested(BadgeOut), required=True)


@blp.route("/badges", methods=["GET"])
@blp.response(200, Catalogue)
def catalogue() -> dict:
    """Every enabled badge with its rule and rarity (share of members holding it)."""
    return {"items": [{**BadgeOut().dump(b), "rarity": rarity} for b, rarity in badges.catalogue()]}


@blp.route("/badges", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(BadgeIn)
@blp.response(201, BadgeOut)
@documented_errors(blp, 409)
def create_badge(body) -> Badge:
    """Add a badge to the catalogue (operators; audited). Use `flask badges backfill` to award it retroactively."""
    badge = badges.create_badge(current_member(), **body)
    return badge


@blp.route("/badges/<int:badge_id>", methods=["PATCH"])
@auth_required(blp, "operator")
@blp.arguments(BadgePatch)
@blp.response(200, BadgeOut)
@documented_errors(blp, 404)
def update_badge(body, badge_id: int) -> Badge:
    """Change a badge or its rule (operators; audited)."""
    badge = badges.update_badge(current_member(), badge_id, **body)
    return badge


@blp.route("/badges/<int:badge_id>/awards", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(AwardIn)
@blp.response(201, AwardOut)
@documented_errors(blp, 404, 409)
def award(body, badge_id: int) -> BadgeAward:
    """Award a badge by hand with a reason (staff; audited)."""
    result = badges.award_manually(current_member(), badge_id, body["user_id"], body["reason"])
    return result


@blp.route("/badges/awards/<int:award_id>/revoke", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(RevokeIn)
@blp.response(200, AwardOut)
@documented_errors(blp, 404)
def revoke(body, award_id: int) -> BadgeAward:
    """Revoke an award with a reason (staff; audited); it leaves the member's showcase."""
    result = badges.revoke(current_member(), award_id, body["reason"])
    return result


@blp.route("/users/<int:user_id>/badges", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, MemberBadges)
@documented_errors(blp, 404)
def member_badges(user_id: int) -> dict:
    """A member's badges and showcase; for yourself, also progress toward the ones you lack."""
    get_user(user_id)
    viewer = current_viewer()
    return {
        "earned": badges.earned(user_id),
        "showcase": badges.showcases([user_id])[user_id],
        "progress": badges.progress(user_id) if viewer is not None and viewer.id == user_id else None,
    }


@blp.route("/me/badges/showcase", methods=["PUT"])
@auth_required(blp)
@blp.arguments(ShowcaseIn)
@blp.response(200, ShowcaseOut)
def set_showcase(body) -> dict:
    """Pin up to three of your badges to your profile and next to your posts."""
    items = badges.set_showcase(current_member(), body["badge_ids"])
    return {"items": items}
