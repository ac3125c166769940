"""Operations: tiers, interest tags, segments, experience-officer campaigns, product feedback, dashboard stats."""

import marshmallow as ma
from flask import Response

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.ids import MAX_ID
from api.pagination import PageArgs, page_body, page_of
from api.schemas import CSV_BODY, XLSX, XLSX_BODY, MemberSummary, csv_response, xlsx_response
from forum.members import get_user
from kernel import clock
from kernel.spreadsheet import spreadsheet_csv, spreadsheet_xlsx
from operations import campaigns, feedback, segments, stats, tiers
from operations import tags as member_tags
from operations.campaigns import Application, Campaign, Share
from operations.feedback import Feedback

blp = Blueprint("operations", __name__, url_prefix="/api/v1", description="Community operations (KOC)")


class TagsIn(ma.Schema):
    tags = BoundedList(
        ma.fields.String(validate=ma.validate.Length(min=1, max=20)), required=True, validate=ma.validate.Length(max=20)
    )
    kind = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(member_tags.KINDS),
        metadata={"description": "self on yourself, friend on others (default); operator"},
    )


class TagOut(ma.Schema):
    tag = ma.fields.String()
    kind = ma.fields.String()
    count = ma.fields.Integer(metadata={"description": "how many people gave it"})


class TagList(ma.Schema):
    items = BoundedList(ma.fields.Nested(TagOut), required=True)


class TierOut(ma.Schema):
    user_id = ma.fields.Integer()
    tier = ma.fields.String(metadata={"description": ", ".join(tiers.TIERS)})
    score = ma.fields.Integer()
    computed_at = ma.fields.DateTime(allow_none=True)


class SegmentArgs(PageArgs):
    tag = ma.fields.String(validate=ma.validate.Length(min=1, max=20))
    tier = ma.fields.String(validate=ma.validate.OneOf(tiers.TIERS))
    min_level = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10))
    badge = ma.fields.String(validate=ma.validate.Length(min=1, max=40))
    supported_idea = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))
    ordered_presale = ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))


class SegmentMember(MemberSummary):
    level = ma.fields.Integer()
    region = ma.fields.String()


class OfficerAudience(ma.Schema):
    tag = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=20))
    tier = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(tiers.TIERS))
    min_level = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=10))
    badge = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=40))
    supported_idea = ma.fields.Integer(load_default=None, allow_none=True)
    ordered_presale = ma.fields.Integer(load_default=None, allow_none=True)


class OfficerQuestion(ma.Schema):
    key = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$"))
    label = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    type = ma.fields.String(load_default="text", validate=ma.validate.OneOf(("text", "number", "choice")))
    options = BoundedList(ma.fields.String(validate=ma.validate.Length(max=80)), load_default=list)
    required = ma.fields.Boolean(load_default=True)


class OfficerCampaignIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    product_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=20000))
    questions = BoundedList(ma.fields.Nested(OfficerQuestion), load_default=list, validate=ma.validate.Length(max=20))
    audience = ma.fields.Nested(OfficerAudience, load_default=dict)
    slots = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10000))
    checkin_days = ma.fields.Integer(load_default=14, validate=ma.validate.Range(min=1, max=90))
    apply_closes_at = ma.fields.AwareDateTime(required=True)


class OfficerCampaignOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    product_name = ma.fields.String()
    description = ma.fields.String()
    questions = BoundedList(ma.fields.Nested(OfficerQuestion))
    audience = ma.fields.Dict()
    slots = ma.fields.Integer()
    checkin_days = ma.fields.Integer()
    apply_closes_at = ma.fields.DateTime()
    status = ma.fields.String(metadata={"description": "recruiting, running or completed"})
    selection_seed = ma.fields.String(allow_none=True, metadata={"description": "re-run the draw with it"})
    started_at = ma.fields.DateTime(allow_none=True)


class OfficerApplyIn(ma.Schema):
    answers = ma.fields.Dict(keys=ma.fields.String(), required=True)


class ApplicationOut(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    answers = ma.fields.Dict()
    status = ma.fields.String()
    checkin_count = ma.fields.Integer()
    completed_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class SelectIn(ma.Schema):
    user_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)),
        load_default=list,
        metadata={"description": "operator picks; the remaining places are drawn"},
    )


class InviteOut(ma.Schema):
    invited = ma.fields.Integer()


class OfficerCheckinIn(ma.Schema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class OfficerShareIn(ma.Schema):
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=500))
    screenshot_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))


class OfficerShareOut(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    url = ma.fields.String()
    screenshot_id = ma.fields.Integer()
    status = ma.fields.String()
    review_reason = ma.fields.String()
    created_at = ma.fields.DateTime()


class OfficerShareArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(("pending", "approved", "rejected")))


class ShareReviewIn(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(("approve", "reject")))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class FeedbackIn(ma.Schema):
    product = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10000))


class FeedbackStepOut(ma.Schema):
    action = ma.fields.String()
    note = ma.fields.String()
    created_at = ma.fields.DateTime()


class FeedbackOut(ma.Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    product = ma.fields.String()
    body = ma.fields.String()
    status = ma.fields.String(metadata={"description": ", ".join(feedback.STATUSES)})
    reply = ma.fields.String()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()
    history = BoundedList(ma.fields.Nested(FeedbackStepOut))


class FeedbackArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(feedback.STATUSES))


class FeedbackNoteIn(ma.Schema):
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))


class FeedbackReplyIn(ma.Schema):
    reply = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10000))


class StatsArgs(ma.Schema):
    days = ma.fields.Integer(load_default=14, validate=ma.validate.Range(min=1, max=90))


class DayCount(ma.Schema):
    day = ma.fields.String()
    count = ma.fields.Integer()


class PointsDay(ma.Schema):
    day = ma.fields.String()
    issued = ma.fields.Integer()
    spent = ma.fields.Integer()


class StatsOut(ma.Schema):
    window_days = ma.fields.Integer()
    daily_active_members = BoundedList(ma.fields.Nested(DayCount))
    posts_per_day = BoundedList(ma.fields.Nested(DayCount))
    replies_per_day = BoundedList(ma.fields.Nested(DayCount))
    points = ma.fields.Dict(metadata={"description": "issued, spent, net_issued, inflation_ratio, outstanding"})
    points_per_day = BoundedList(
        ma.fields.Nested(PointsDay), metadata={"description": "points issued and spent per community day"}
    )
    tiers = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Integer(), metadata={"description": "members per activity tier"}
    )
    idea_funnel = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    presale = ma.fields.Dict(metadata={"description": "orders, paid_or_confirmed, conversion, by_status"})


# Tags and tiers


@blp.route("/users/<int:user_id>/tags", methods=["PUT"])
@auth_required(blp)
@blp.arguments(TagsIn)
@blp.response(200, TagList)
@documented_errors(blp, 404)
def put_tags(body, user_id: int) -> dict:
    """Replace the tags you give: your own (kind self), a friend's (friend), or as an operator (operator)."""
    member = current_member()
    kind = body["kind"] or ("self" if member.id == user_id else "friend")
    member_tags.set_tags(member, user_id, body["tags"], kind)
    return {"items": member_tags.tags_of(user_id, member)}


@blp.route("/users/<int:user_id>/tags", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, TagList)
@documented_errors(blp, 404)
def get_tags(user_id: int) -> dict:
    """A member's interest tags with counts (operator tags only for operators)."""
    get_user(user_id)
    return {"items": member_tags.tags_of(user_id, current_viewer())}


@blp.route("/me/tags/<string:tag>", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, TagList)
@documented_errors(blp, 422)
def remove_tag(tag: str) -> dict:
    """Remove a tag from yourself, whoever gave it."""
    member = current_member()
    member_tags.remove_tag(member, tag)
    return {"items": member_tags.tags_of(member.id, member)}


@blp.route("/users/<int:user_id>/tier", methods=["GET"])
@auth_required(blp, "operator")
@blp.response(200, TierOut)
@documented_errors(blp, 404)
def get_tier(user_id: int) -> dict:
    """A member's activity tier (operators only)."""
    get_user(user_id)
    row = tiers.tier_of(user_id)
    return {
        "user_id": user_id,
        "tier": row.tier if row else "inactive",
        "score": row.score if row else 0,
        "computed_at": row.computed_at if row else None,
    }


@blp.route("/segments", methods=["GET"])
@auth_required(blp, "operator")
@blp.arguments(SegmentArgs, location="query")
@blp.response(200, page_of(SegmentMember))
@blp.alt_response(
    200, schema=CSV_BODY, content_type="text/csv", description="with ?format=csv: every match, UTF-8 with BOM"
)
@blp.alt_response(200, schema=XLSX_BODY, content_type=XLSX, description="with ?format=xlsx: every match")
@documented_errors(blp, 400)
def segment(args) -> dict | Response:
    """Members matching every filter (tag, tier, level, badge, idea support, pre-sale order); CSV or XLSX export."""
    filters = {k: args.get(k) for k in segments.FILTERS}
    if args["format"] in ("csv", "xlsx"):
        header = ("id", "username", "display_name", "level", "region")
        rows = [(u.id, u.username, u.display_name, u.level, u.region) for u in segments.all_members(filters)]
        if args["format"] == "xlsx":
            return xlsx_response(spreadsheet_xlsx(header, rows, "segment"), "segment.xlsx")
        return csv_response(spreadsheet_csv(header, rows), "segment.csv")
    return page_body(segments.members(filters, args["limit"], args["cursor"]))


# Experience-officer campaigns


@blp.route("/campaigns", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(OfficerCampaignOut))
@documented_errors(blp, 400)
def list_campaigns(args) -> dict:
    """Experience-officer campaigns, newest first."""
    return page_body(campaigns.list_all(args["limit"], args["cursor"]))


@blp.route("/campaigns", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(OfficerCampaignIn)
@blp.response(201, OfficerCampaignOut)
def create_campaign(body) -> Campaign:
    """Open recruitment: application questions, audience segment (flash group), places, check-in days."""
    campaign = campaigns.create(current_member(), **body)
    return campaign


@blp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@blp.response(200, OfficerCampaignOut)
@documented_errors(blp, 404)
def get_campaign(campaign_id: int) -> Campaign:
    """One campaign, with its draw seed once selection has happened."""
    return campaigns.get(campaign_id)


@blp.route("/campaigns/<int:campaign_id>/invite", methods=["POST"])
@auth_required(blp, "operator")
@blp.response(200, InviteOut)
@documented_errors(blp, 404)
def invite(campaign_id: int) -> dict:
    """Notify every member of the campaign's audience segment."""
    count = campaigns.invite(current_member(), campaign_id)
    return {"invited": count}


@blp.route("/campaigns/<int:campaign_id>/apply", methods=["POST"])
@auth_required(blp)
@blp.arguments(OfficerApplyIn)
@blp.response(201, ApplicationOut)
@documented_errors(blp, 404, 409)
def apply(body, campaign_id: int) -> Application:
    """Apply once, answering the campaign's questions; only members of the audience may apply."""
    application = campaigns.apply(current_member(), campaign_id, body["answers"], clock.now())
    return application


@blp.route("/campaigns/<int:campaign_id>/applications", methods=["GET"])
@auth_required(blp, "operator")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(ApplicationOut))
@documented_errors(blp, 400, 404)
def list_applications(args, campaign_id: int) -> dict:
    """Applications with their answers, in the order they came (operators)."""
    return page_body(campaigns.applications(current_member(), campaign_id, args["limit"], args["cursor"]))


@blp.route("/campaigns/<int:campaign_id>/select", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(SelectIn)
@blp.response(200, OfficerCampaignOut)
@documented_errors(blp, 404, 409)
def select(body, campaign_id: int) -> Campaign:
    """Choose officers: your picks, then a seeded random draw for the remaining places (audited)."""
    campaign = campaigns.select_officers(current_member(), campaign_id, body["user_ids"], clock.now())
    return campaign


@blp.route("/campaigns/<int:campaign_id>/checkins", methods=["POST"])
@auth_required(blp)
@blp.arguments(OfficerCheckinIn)
@blp.response(201, ApplicationOut)
@documented_errors(blp, 404, 409)
def checkin(body, campaign_id: int) -> Application:
    """Selected officers check in once a day during the check-in period (points via the campaign_checkin rule)."""
    application = campaigns.check_in(current_member(), campaign_id, body["note"], clock.now())
    return application


@blp.route("/campaigns/<int:campaign_id>/shares", methods=["POST"])
@auth_required(blp)
@blp.arguments(OfficerShareIn)
@blp.response(201, OfficerShareOut)
@documented_errors(blp, 404)
def share(body, campaign_id: int) -> Share:
    """Submit a share (link + screenshot upload) for review."""
    row = campaigns.submit_share(current_member(), campaign_id, body["url"], body["screenshot_id"], clock.now())
    return row


@blp.route("/campaigns/<int:campaign_id>/shares", methods=["GET"])
@auth_required(blp, "operator")
@blp.arguments(OfficerShareArgs, location="query")
@blp.response(200, page_of(OfficerShareOut))
@documented_errors(blp, 400, 404)
def list_shares(args, campaign_id: int) -> dict:
    """A campaign's shares in the order they came, filterable by review status (operators)."""
    return page_body(campaigns.shares_of(campaign_id, args.get("status"), args["limit"], args["cursor"]))


@blp.route("/shares/<int:share_id>/review", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(ShareReviewIn)
@blp.response(200, OfficerShareOut)
@documented_errors(blp, 404, 409)
def review_share(body, share_id: int) -> Share:
    """Approve (pays the share_approved rule) or reject with a reason (operators; audited)."""
    row = campaigns.review_share(current_member(), share_id, body["decision"] == "approve", body["reason"])
    return row


# Product feedback


@blp.route("/feedback", methods=["POST"])
@auth_required(blp)
@blp.arguments(FeedbackIn)
@blp.response(201, FeedbackOut)
def submit_feedback(body) -> Feedback:
    """Tell the product team something about a product."""
    row = feedback.submit(current_member(), body["product"], body["body"])
    return row


@blp.route("/feedback", methods=["GET"])
@auth_required(blp)
@blp.arguments(FeedbackArgs, location="query")
@blp.response(200, page_of(FeedbackOut))
@documented_errors(blp, 400)
def list_feedback(args) -> dict:
    """Your feedback (members); the whole inbox for operators; forwarded items for the product team."""
    return page_body(feedback.listing(current_member(), args.get("status"), args["limit"], args["cursor"]))


@blp.route("/feedback/<int:feedback_id>", methods=["GET"])
@auth_required(blp)
@blp.response(200, FeedbackOut)
@documented_errors(blp, 404)
def get_feedback(feedback_id: int) -> Feedback:
    """One piece of feedback with its history."""
    return feedback.visible(current_member(), feedback_id)


@blp.route("/feedback/<int:feedback_id>/forward", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(FeedbackNoteIn)
@blp.response(200, FeedbackOut)
@documented_errors(blp, 404, 409)
def forward_feedback(body, feedback_id: int) -> Feedback:
    """Forward to the product team (operators)."""
    row = feedback.forward(current_member(), feedback_id, body["note"])
    return row


@blp.route("/feedback/<int:feedback_id>/reply", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(FeedbackReplyIn)
@blp.response(200, FeedbackOut)
@documented_errors(blp, 404, 409)
def reply_feedback(body, feedback_id: int) -> Feedback:
    """Answer forwarded feedback (product team); the member is notified."""
    row = feedback.reply(current_member(), feedback_id, body["reply"])
    return row


@blp.route("/feedback/<int:feedback_id>/close", methods=["POST"])
@auth_required(blp)
@blp.response(200, FeedbackOut)
@documented_errors(blp, 404, 409)
def close_feedback(feedback_id: int) -> Feedback:
    """Close feedback (its submitter or an operator)."""
    row = feedback.close(current_member(), feedback_id)
    return row


@blp.route("/ops/stats", methods=["GET"])
@auth_required(blp, "operator")
@blp.arguments(StatsArgs, location="query")
@blp.response(200, StatsOut)
def ops_stats(args) -> dict:
    """Daily active members, posts and replies per day, points issued vs spent, idea funnel, pre-sale conversion."""
    return stats.overview(clock.now(), args["days"])
