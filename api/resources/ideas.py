"""Ideas: submission, support with a demand survey, updates, comments, product decisions and reports."""

import marshmallow as ma
from flask import Response

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.forum_schemas import ImageOut, image_out
from api.ids import MAX_ID
from api.limits import action_limited
from api.pagination import PageArgs, page_body, page_of
from api.schemas import CSV_BODY, XLSX, XLSX_BODY, MemberSummary, csv_response, xlsx_response
from c2b import idea_merges, ideas, polls, presale, review_rounds
from c2b.ideas import IdeaComment, IdeaSupport, IdeaUpdate
from kernel import clock
from kernel.db import db
from kernel.errors import NotFound
from kernel.spreadsheet import spreadsheet_csv, spreadsheet_xlsx
from moderation import publishing

blp = Blueprint("ideas", __name__, url_prefix="/api/v1/ideas", description="Ideas (LEGO Ideas model)")


# Spaces are folded before lengths are counted, so the rules ask for enough non-space characters too.
IDEA_TITLE = [ma.validate.Length(min=4, max=120), ma.validate.Regexp(r"(\s*\S){4}")]
IDEA_DESCRIPTION = [ma.validate.Length(min=20, max=20000), ma.validate.Regexp(r"[\s\S]*?\S[\s\S]{18,}\S")]


class IdeaIn(ma.Schema):
    title = ma.fields.String(required=True, validate=IDEA_TITLE, metadata={"description": "4-120 characters"})
    description = ma.fields.String(
        required=True, validate=IDEA_DESCRIPTION, metadata={"description": "20-20000 characters"}
    )
    category = ma.fields.String(required=True, validate=ma.validate.OneOf(ideas.CATEGORIES))
    image_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)),
        required=True,
        validate=ma.validate.Length(min=1, max=9),
    )


class IdeaPatch(ma.Schema):
    title = ma.fields.String(validate=IDEA_TITLE)
    description = ma.fields.String(validate=IDEA_DESCRIPTION)
    category = ma.fields.String(validate=ma.validate.OneOf(ideas.CATEGORIES))
    image_ids = BoundedList(
        ma.fields.Integer(validate=ma.validate.Range(min=1, max=MAX_ID)), validate=ma.validate.Length(min=1, max=9)
    )


class MilestoneOut(ma.Schema):
    supporters = ma.fields.Integer()
    extension_days = ma.fields.Integer(allow_none=True, metadata={"description": "null: reaching it qualifies"})


class SupportState(ma.Schema):
    supported = ma.fields.Boolean()
    would_buy = ma.fields.Integer(allow_none=True)
    price_cents = ma.fields.Integer(allow_none=True)


class RoundOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    cutoff_at = ma.fields.DateTime(metadata={"description": "ideas qualified by then are reviewed in the round"})
    results_at = ma.fields.DateTime(metadata={"description": "when the round's decisions are published"})
    state = ma.fields.String(metadata={"description": "open or published"})


class IdeaOut(ma.Schema):
    id = ma.fields.Integer()
    creator = ma.fields.Nested(MemberSummary)
    title = ma.fields.String()
    description = ma.fields.String()
    category = ma.fields.String()
    images = BoundedList(ma.fields.Nested(ImageOut))
    status = ma.fields.String(metadata={"description": ", ".join(ideas.STATUSES)})
    supporter_count = ma.fields.Integer(metadata={"description": "every support"})
    verified_supporter_count = ma.fields.Integer(metadata={"description": "supports that count toward milestones"})
    milestones_reached = ma.fields.Integer()
    next_milestone = ma.fields.Nested(MilestoneOut, allow_none=True)
    deadline_at = ma.fields.DateTime(allow_none=True)
    published_at = ma.fields.DateTime(allow_none=True)
    qualified_at = ma.fields.DateTime(allow_none=True)
    rejection_reason = ma.fields.String(metadata={"description": "guideline rejection, for the creator"})
    decision_feedback = ma.fields.String(metadata={"description": "the product team's public feedback"})
    merged_into = ma.fields.Integer(allow_none=True, metadata={"description": "a merged idea: where its support went"})
    review_round = ma.fields.Nested(RoundOut, allow_none=True, metadata={"description": "the round it is reviewed in"})
    created_at = ma.fields.DateTime()
    viewer = ma.fields.Nested(SupportState, allow_none=True)


class IdeaPollLink(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    open = ma.fields.Boolean()


class IdeaPresaleLink(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()


class IdeaDetail(IdeaOut):
    polls = BoundedList(ma.fields.Nested(IdeaPollLink), metadata={"description": "its sample polls, newest first"})
    presales = BoundedList(
        ma.fields.Nested(IdeaPresaleLink), metadata={"description": "its pre-sale campaigns, newest first"}
    )


class IdeaListArgs(PageArgs):
    q = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100), metadata={"description": "words in the title or description"}
    )
    category = ma.fields.String(validate=ma.validate.OneOf(ideas.CATEGORIES))
    status = ma.fields.String(validate=ma.validate.OneOf(ideas.STATUSES))
    sort = ma.fields.String(load_default="supporters", validate=ma.validate.OneOf(("supporters", "trending", "newest")))


class SupportIn(ma.Schema):
    would_buy = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=10),
        metadata={"description": "units you would buy, 0-10"},
    )
    price_cents = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=0, max=100_000_000),
        metadata={"description": "the price you would pay, in cents"},
    )


class UpdateIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=20000))


class UpdateOut(UpdateIn):
    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "published, or pending_review when held"})
    created_at = ma.fields.DateTime()


class CommentIn(ma.Schema):
    body = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=5000))


class CommentOut(ma.Schema):
    id = ma.fields.Integer()
    author = ma.fields.Nested(MemberSummary)
    body = ma.fields.String()
    status = ma.fields.String(metadata={"description": "published, or pending_review when held"})
    created_at = ma.fields.DateTime()


class DecisionIn(ma.Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(tuple(ideas.DECISIONS)))
    feedback = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))


class DemandArgs(ma.Schema):
    min_level = ma.fields.Integer(
        load_default=None,
        validate=ma.validate.Range(min=1, max=10),
        metadata={"description": "default: the verified supporter's level (IDEA_VERIFIED_MIN_LEVEL)"},
    )


class VelocityPoint(ma.Schema):
    day = ma.fields.String()
    supports = ma.fields.Integer()


class DemandOut(ma.Schema):
    idea_id = ma.fields.Integer()
    title = ma.fields.String()
    status = ma.fields.String()
    supporters = ma.fields.Integer()
    verified_supporters = ma.fields.Integer()
    supporters_at_min_level = ma.fields.Integer()
    min_level = ma.fields.Integer()
    would_buy_units = ma.fields.Integer()
    would_buy_respondents = ma.fields.Integer()
    would_buy_distribution = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    price_respondents = ma.fields.Integer()
    median_price_cents = ma.fields.Integer(allow_none=True)
    price_distribution = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    supports_last_7_days = ma.fields.Integer()
    velocity = BoundedList(ma.fields.Nested(VelocityPoint))


class TopArgs(ma.Schema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class TopOut(ma.Schema):
    items = BoundedList(ma.fields.Nested(DemandOut), required=True)


CSV_COLUMNS = (
    "idea_id",
    "title",
    "status",
    "supporters",
    "verified_supporters",
    "would_buy_units",
    "median_price_cents",
    "supports_last_7_days",
)


def _present_page(page, viewer) -> dict:
    """A page of ideas, with its reader's supports and the merged ideas' targets read for the whole page at once."""
    supports = ideas.supports_among(viewer, [idea.id for idea in page.items])
    merged = idea_merges.merged_into_each([idea.id for idea in page.items if idea.status == "merged"])
    return page_body(page, lambda idea: _present(idea, viewer, supports=supports, merged=merged))


def _present(
    idea, viewer, *, supports: dict[int, IdeaSupport] | None = None, merged: dict[int, int] | None = None
) -> dict:
    """One idea as its reader sees it; `supports` and `merged` are the page's, when presenting a page."""
    now = clock.now()
    stages = ideas.milestones()
    upcoming = stages[idea.milestones_reached] if idea.milestones_reached < len(stages) else None
    if supports is not None:
        support = supports.get(idea.id)
    else:
        support = db.session.get(IdeaSupport, (idea.id, viewer.id)) if viewer is not None else None
    if idea.status != "merged":
        merged_into = None
    else:
        merged_into = (merged if merged is not None else idea_merges.merged_into_each([idea.id])).get(idea.id)
    shown = {
        k: getattr(idea, k)
        for k in IdeaOut._declared_fields
        if k
        not in (
            "creator",
            "images",
            "status",
            "next_milestone",
            "viewer",
            "rejection_reason",
            "merged_into",
            "review_round",
            "decision_feedback",
        )
    }
    is_creator = viewer is not None and viewer.id == idea.creator_id
    creator = idea.creator
    return {
        **shown,
        # Read now, in the unit of work: an entity left for the schema would be expired by the commit and read again.
        "creator": {"id": creator.id, "username": creator.username, "display_name": creator.display_name},
        "images": [image_out(m) for m in idea.images],
        "status": ideas.effective_status(idea, now),
        "next_milestone": upcoming,
        "rejection_reason": idea.rejection_reason if is_creator or (viewer and viewer.is_staff) else "",
        "merged_into": merged_into,
        "review_round": review_rounds.get_round(idea.review_round_id) if idea.review_round_id else None,
        # A decision taken in an open round stays unseen until the round publishes it.
        "decision_feedback": idea.decision_feedback
        if not idea.pending_decision or (viewer is not None and viewer.has_role("product"))
        else "",
        "viewer": None
        if viewer is None
        else {
            "supported": support is not None,
            "would_buy": support.would_buy if support else None,
            "price_cents": support.price_cents if support else None,
        },
    }


@blp.route("", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(IdeaListArgs, location="query")
@blp.response(200, page_of(IdeaOut))
@documented_errors(blp, 400)
def list_ideas(args) -> dict:
    """Public ideas by supporters (as the counting policy counts them), trending or newest; search with `q`
    (substrings, Chinese included), filter by category and status."""
    viewer = current_viewer()
    page = ideas.list_ideas(
        status=args.get("status"),
        sort=args["sort"],
        limit=args["limit"],
        cursor=args["cursor"],
        now=clock.now(),
        q=args.get("q"),
        category=args.get("category"),
    )
    return _present_page(page, viewer)


@blp.route("", methods=["POST"])
@auth_required(blp)
@action_limited(blp, "idea")
@blp.arguments(IdeaIn)
@blp.response(201, IdeaOut)
def submit_idea(body) -> dict:
    """Submit an idea (title, description, category, 1-9 of your images); public after moderator review."""
    member = current_member()
    idea = publishing.submit_idea(member, **body)
    return _present(idea, member)


@blp.route("/<int:idea_id>", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, IdeaDetail)
@documented_errors(blp, 404)
def get_idea(idea_id: int) -> dict:
    """One idea with milestones, deadline, its polls and pre-sales and, when signed in, your support."""
    viewer = current_viewer()
    idea = ideas.visible_idea(idea_id, viewer)
    now = clock.now()
    return {
        **_present(idea, viewer),
        "polls": [{"id": p.id, "title": p.title, "open": p.is_open(now)} for p in polls.list_polls(idea.id)],
        "presales": [
            {"id": c.id, "title": c.title, "status": c.status(now)} for c in presale.list_campaigns(viewer, idea.id)
        ],
    }


@blp.route("/<int:idea_id>", methods=["PATCH"])
@auth_required(blp)
@blp.arguments(IdeaPatch)
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def edit_idea(body, idea_id: int) -> dict:
    """Edit your idea while in review or after a guideline rejection (which resubmits it)."""
    member = current_member()
    idea = publishing.edit_idea(member, idea_id, **body)
    return _present(idea, member)


@blp.route("/<int:idea_id>/support", methods=["PUT"])
@auth_required(blp)
@action_limited(blp, "support")
@blp.arguments(SupportIn, example={"would_buy": 2, "price_cents": 59900})
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def support(body, idea_id: int) -> dict:
    """Support an idea (once; PUT again to change your survey answers). Not your own; only while supporting."""
    member = current_member()
    supported = ideas.support(member, idea_id, **body)  # held: the presenter finds the support in the unit of work
    return _present(supported.idea, member)


@blp.route("/<int:idea_id>/support", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def withdraw(idea_id: int) -> dict:
    """Withdraw your support while the idea is collecting it (idempotent)."""
    member = current_member()
    ideas.withdraw(member, idea_id)
    return _present(ideas.get_idea(idea_id), member)


@blp.route("/<int:idea_id>/updates", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(UpdateOut))
@documented_errors(blp, 400, 404)
def list_updates(args, idea_id: int) -> dict:
    """The creator's updates, newest first."""
    return page_body(ideas.updates_of(idea_id, current_viewer(), args["limit"], args["cursor"]))


@blp.route("/<int:idea_id>/updates", methods=["POST"])
@auth_required(blp)
@blp.arguments(UpdateIn)
@blp.response(201, UpdateOut)
@documented_errors(blp, 404, 409)
def post_update(body, idea_id: int) -> IdeaUpdate:
    """Post an update on your idea; every supporter is notified once it is public (the word filter and WeChat's
    check may hold it for review; blocked words are refused)."""
    return publishing.submit_idea_update(current_member(), idea_id, body["title"], body["body"])


@blp.route("/<int:idea_id>/comments", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(CommentOut))
@documented_errors(blp, 400, 404)
def list_comments(args, idea_id: int) -> dict:
    """Comments, oldest first."""
    return page_body(ideas.comments_of(idea_id, current_viewer(), args["limit"], args["cursor"]))


@blp.route("/<int:idea_id>/comments", methods=["POST"])
@auth_required(blp)
@action_limited(blp, "reply")
@blp.arguments(CommentIn)
@blp.response(201, CommentOut)
@documented_errors(blp, 404, 409)
def post_comment(body, idea_id: int) -> IdeaComment:
    """Comment on a public idea; the word filter and WeChat's check apply as to replies (blocked words 422, held
    ones wait for review)."""
    return publishing.submit_idea_comment(current_member(), idea_id, body["body"])


@blp.route("/<int:idea_id>", methods=["DELETE"])
@auth_required(blp)
@blp.response(204)
@documented_errors(blp, 404, 409)
def delete_idea(idea_id: int) -> None:
    """Withdraw your idea (until the product team takes it up); the points it earned go back."""
    ideas.delete_own_idea(current_member(), idea_id)


@blp.route("/<int:idea_id>/updates/<int:update_id>", methods=["DELETE"])
@auth_required(blp)
@blp.response(204)
@documented_errors(blp, 404)
def delete_update(idea_id: int, update_id: int) -> None:
    """Delete one of your updates."""
    if ideas.get_update(update_id).idea_id != idea_id:
        raise NotFound("no such update", code="update_not_found")
    ideas.delete_own_update(current_member(), update_id)


@blp.route("/<int:idea_id>/comments/<int:comment_id>", methods=["DELETE"])
@auth_required(blp)
@blp.response(204)
@documented_errors(blp, 404)
def delete_comment(idea_id: int, comment_id: int) -> None:
    """Delete your own comment (moderators use the moderation actions)."""
    comment = ideas.get_comment(comment_id)
    if comment.idea_id != idea_id:
        raise NotFound("no such comment", code="comment_not_found")
    ideas.delete_own_comment(current_member(), comment_id)


class MergeIn(ma.Schema):
    into_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class UnmergeIn(ma.Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


@blp.route("/<int:idea_id>/merge", methods=["POST"])
@auth_required(blp, "moderator", "product")
@blp.arguments(MergeIn)
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def merge_idea(body, idea_id: int) -> dict:
    """Merge this idea (a duplicate) into `into_id`: its supporters are counted there (each member once), it
    reads as merged, its supporters are told; audited, and reversible until the other idea's next milestone."""
    member = current_member()
    return _present(idea_merges.merge(member, idea_id, body["into_id"], body["reason"]), member)


@blp.route("/<int:idea_id>/unmerge", methods=["POST"])
@auth_required(blp, "moderator", "product")
@blp.arguments(UnmergeIn, required=False)
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def unmerge_idea(body, idea_id: int) -> dict:
    """Undo a merge (while the other idea has reached no new milestone): the re-cast supports are withdrawn."""
    member = current_member()
    return _present(idea_merges.unmerge(member, idea_id, body.get("reason", "")), member)


@blp.route("/review-queue", methods=["GET"])
@auth_required(blp, "product", "operator")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(IdeaOut))
@documented_errors(blp, 400)
def idea_review_queue(args) -> dict:
    """Qualified ideas and ideas in review, most supported first (product team)."""
    member = current_member()
    return _present_page(ideas.review_queue(args["limit"], args["cursor"]), member)


@blp.route("/<int:idea_id>/decision", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(DecisionIn)
@blp.response(200, IdeaOut)
@documented_errors(blp, 404, 409)
def decide(body, idea_id: int) -> dict:
    """start_review (qualified → in_review), approve / not_approve (with public feedback), or archive."""
    member = current_member()
    idea = review_rounds.decide(member, idea_id, body["decision"], body["feedback"])
    return _present(idea, member)


@blp.route("/<int:idea_id>/demand", methods=["GET"])
@auth_required(blp)
@blp.arguments(DemandArgs, location="query")
@blp.response(200, DemandOut)
@documented_errors(blp, 404)
def demand(args, idea_id: int) -> dict:
    """Demand report for the product team and for the idea's creator: supporters (verified, at a level),
    would-buy units, price distribution, and supports per day (`velocity`, a series to chart). Staff supports,
    and those of banned or deleted members, are left out."""
    return ideas.demand_for(current_member(), idea_id, args["min_level"], clock.now())


@blp.route("/top", methods=["GET"])
@auth_required(blp, "product", "operator")
@blp.arguments(TopArgs, location="query")
@blp.response(200, TopOut)
@blp.alt_response(
    200, schema=CSV_BODY, content_type="text/csv", description="with ?format=csv: UTF-8 with BOM, opens in Excel"
)
@blp.alt_response(200, schema=XLSX_BODY, content_type=XLSX, description="with ?format=xlsx")
def top(args) -> Response | dict:
    """The most supported ideas with their demand summaries, as JSON or CSV."""
    rows = ideas.top_ideas(args["limit"], clock.now())
    if args["format"] == "json":
        return {"items": rows}
    table = [[row[c] for c in CSV_COLUMNS] for row in rows]
    if args["format"] == "xlsx":
        return xlsx_response(spreadsheet_xlsx(CSV_COLUMNS, table, "top ideas"), "top-ideas.xlsx")
    return csv_response(spreadsheet_csv(CSV_COLUMNS, table), "top-ideas.csv")


me_blp = Blueprint("my_ideas", __name__, url_prefix="/api/v1/me", description="Ideas")


class MySupportOut(ma.Schema):
    idea = ma.fields.Nested(IdeaOut)
    would_buy = ma.fields.Integer(allow_none=True)
    price_cents = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()


@me_blp.route("/ideas", methods=["GET"])
@auth_required(me_blp)
@me_blp.arguments(PageArgs, location="query")
@me_blp.response(200, page_of(IdeaOut))
@documented_errors(me_blp, 400)
def my_ideas(args) -> dict:
    """All of your ideas, newest first, in review and rejected ones included (with the reason)."""
    member = current_member()
    return _present_page(ideas.ideas_of(member, args["limit"], args["cursor"]), member)


@me_blp.route("/supports", methods=["GET"])
@auth_required(me_blp)
@me_blp.arguments(PageArgs, location="query")
@me_blp.response(200, page_of(MySupportOut))
@documented_errors(me_blp, 400)
def my_supports(args) -> dict:
    """The ideas you support, most recent first, with your survey answers."""
    member = current_member()
    page = ideas.supports_of(member, args["limit"], args["cursor"])
    # The page's ideas, and what presenting them reads, at once for the page.
    supported = ideas.ideas_by_id([support.idea_id for support in page.items])
    supports = {support.idea_id: support for support in page.items}
    merged = idea_merges.merged_into_each([idea.id for idea in supported.values() if idea.status == "merged"])

    def shown(support) -> dict:
        idea = supported[support.idea_id]
        return {
            "idea": _present(idea, member, supports=supports, merged=merged),
            "would_buy": support.would_buy,
            "price_cents": support.price_cents,
            "created_at": support.created_at,
        }

    return page_body(page, shown)


rounds_blp = Blueprint("review_rounds", __name__, url_prefix="/api/v1/review-rounds", description="Ideas")


class RoundIn(ma.Schema):
    name = ma.fields.String(required=True, validate=[ma.validate.Length(min=1, max=80), ma.validate.Regexp(r"\s*\S")])
    cutoff_at = ma.fields.AwareDateTime(required=True)
    results_at = ma.fields.AwareDateTime(required=True, metadata={"description": "after cutoff_at"})


@rounds_blp.route("", methods=["GET"])
@rounds_blp.arguments(PageArgs, location="query")
@rounds_blp.response(200, page_of(RoundOut))
@documented_errors(rounds_blp, 400)
def list_rounds(args) -> dict:
    """Review rounds, newest first, with their cut-off and results dates."""
    return page_body(review_rounds.list_rounds(args["limit"], args["cursor"]))


@rounds_blp.route("", methods=["POST"])
@auth_required(rounds_blp, "product")
@rounds_blp.arguments(RoundIn)
@rounds_blp.response(201, RoundOut)
@documented_errors(rounds_blp, 409)
def open_round(body) -> object:
    """Open a review round (product team; one at a time): ideas qualified by the cut-off join it, and approvals
    and refusals in it wait for its results date."""
    return review_rounds.open_round(current_member(), body["name"], body["cutoff_at"], body["results_at"])


@rounds_blp.route("/<int:round_id>/publish", methods=["POST"])
@auth_required(rounds_blp, "product")
@rounds_blp.response(200, RoundOut)
@documented_errors(rounds_blp, 404, 409)
def publish_round(round_id: int) -> object:
    """Publish the round's decisions now, all together (the job does it at the results date)."""
    return review_rounds.publish(round_id, current_member(), clock.now())
