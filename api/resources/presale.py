"""Sample polls, pre-sale campaigns, orders, payment notifications, settlement and the factory manifest."""

import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest.fields import Upload

from api.auth import auth_required, current_member, current_viewer
from api.blueprint import Blueprint, accepts
from api.errors import documented_errors
from api.fields import BoundedList
from api.forum_schemas import ImageOut, image_out
from api.idempotency import RequiredIdempotencyHeader, key_or_new
from api.ids import MAX_ID
from api.pagination import PageArgs, page_body, page_of
from api.resources.addresses import ShipTo
from api.schemas import CSV_BODY, XLSX, XLSX_BODY, csv_response, xlsx_response
from c2b import fulfilment, manifest, payments, polls, presale
from c2b.presale import Order
from c2b.wechatpay import WeChatPayClient, configured_client
from kernel import clock
from kernel.errors import DependencyDown, ValidationFailed

blp = Blueprint("presale", __name__, url_prefix="/api/v1", description="Sample polls and pre-sales")


class PollOptionIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    image_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))


class PollIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    idea_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    min_level = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10))
    closes_at = ma.fields.AwareDateTime(required=True)
    options = BoundedList(ma.fields.Nested(PollOptionIn), required=True, validate=ma.validate.Length(min=2, max=8))


class PollOptionOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    image = ma.fields.Nested(ImageOut, allow_none=True)
    vote_count = ma.fields.Integer()
    share = ma.fields.Float(metadata={"description": "share of the votes so far"})


class PollOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    idea_id = ma.fields.Integer(allow_none=True)
    min_level = ma.fields.Integer()
    closes_at = ma.fields.DateTime()
    open = ma.fields.Boolean()
    vote_count = ma.fields.Integer()
    options = BoundedList(ma.fields.Nested(PollOptionOut))
    my_vote = ma.fields.Integer(allow_none=True, metadata={"description": "the option you chose"})


class VoteIn(ma.Schema):
    option_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))


class OptionIn(ma.Schema):
    sku = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9._-]{1,40}$"))
    name = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=80),
        metadata={"description": "required unless poll_option_id names the sample it comes from"},
    )
    price_cents = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=100_000_000),
        metadata={"description": "this SKU's price; default the campaign's unit_price_cents"},
    )
    stock_cap = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={"description": "units of this SKU that can be sold; the campaign's cap applies too"},
    )
    poll_option_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={"description": "a sample of the campaign's (closed) poll this option makes, e.g. the winner"},
    )

    @ma.validates_schema
    def _named(self, data, **kwargs) -> None:
        if not data.get("name", "").strip() and not data.get("poll_option_id"):
            raise ma.ValidationError("a name, or the poll sample it comes from", "name")


class OptionOut(ma.Schema):
    id = ma.fields.Integer()
    sku = ma.fields.String()
    name = ma.fields.String()
    price_cents = ma.fields.Integer(metadata={"description": "the price of one unit of this SKU"})
    stock_cap = ma.fields.Integer(allow_none=True)
    reserved_quantity = ma.fields.Integer()
    poll_option_id = ma.fields.Integer(allow_none=True)


class EarlyAccess(ma.Schema):
    idea_supporters = ma.fields.Boolean(load_default=False)
    poll_voters = ma.fields.Boolean(load_default=False)
    badge = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=40))
    min_level = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=10))


class CampaignIn(ma.Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=20000))
    idea_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    poll_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    currency = ma.fields.String(load_default="CNY", validate=ma.validate.Regexp(r"^[A-Z]{3}$"))
    unit_price_cents = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=100_000_000))
    deposit_cents = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=100_000_000),
        metadata={"description": "per unit, less than every option's price; needs balance_due_at"},
    )
    balance_due_at = ma.fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "the balance deadline, at least 24 h after closes_at (deposit campaigns only)"},
    )
    deposit_policy = ma.fields.String(
        load_default="forfeit",
        validate=ma.validate.OneOf(presale.DEPOSIT_POLICIES),
        metadata={"description": "an unpaid balance forfeits the deposit, or refunds it"},
    )
    moq = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10_000_000))
    stock_cap = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    per_member_limit = ma.fields.Integer(load_default=5, validate=ma.validate.Range(min=1, max=1000))
    creator_free_units = ma.fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=10),
        metadata={"description": "free units for the idea's creator when the pre-sale succeeds (on the manifest)"},
    )
    early_access_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    early_access = ma.fields.Nested(EarlyAccess, load_default=dict)
    opens_at = ma.fields.AwareDateTime(required=True)
    closes_at = ma.fields.AwareDateTime(required=True)
    options = BoundedList(ma.fields.Nested(OptionIn), required=True, validate=ma.validate.Length(min=1, max=50))


class CreatorCredit(ma.Schema):
    user_id = ma.fields.Integer()
    display_name = ma.fields.String()
    idea_id = ma.fields.Integer()
    idea_title = ma.fields.String()


class CampaignOut(ma.Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    idea_id = ma.fields.Integer(allow_none=True)
    poll_id = ma.fields.Integer(allow_none=True)
    currency = ma.fields.String()
    unit_price_cents = ma.fields.Integer()
    deposit_cents = ma.fields.Integer(allow_none=True)
    balance_due_at = ma.fields.DateTime(allow_none=True)
    deposit_policy = ma.fields.String()
    moq = ma.fields.Integer()
    stock_cap = ma.fields.Integer(allow_none=True)
    per_member_limit = ma.fields.Integer()
    creator_free_units = ma.fields.Integer()
    early_access_at = ma.fields.DateTime(allow_none=True)
    early_access = ma.fields.Dict()
    opens_at = ma.fields.DateTime()
    closes_at = ma.fields.DateTime()
    status = ma.fields.String(
        metadata={
            "description": "draft, scheduled, open, closed, balance_due, succeeded, failed, in_production, shipped"
        }
    )
    reserved_quantity = ma.fields.Integer()
    paid_quantity = ma.fields.Integer(metadata={"description": "units whose first charge (deposit or price) is paid"})
    options = BoundedList(ma.fields.Nested(OptionOut))
    creator = ma.fields.Nested(
        CreatorCredit, allow_none=True, metadata={"description": "the member whose idea this product comes from"}
    )


class StateIn(ma.Schema):
    state = ma.fields.String(required=True, validate=ma.validate.OneOf(("published", "in_production", "shipped")))


class OrderIn(ma.Schema):
    option_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    quantity = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100))
    region = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))
    address_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={"description": "one of your addresses; the order keeps a copy (change it until it ships)"},
    )


class AddressChoice(ma.Schema):
    address_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))


class OrderOut(ma.Schema):
    id = ma.fields.Integer()
    campaign_id = ma.fields.Integer()
    option = ma.fields.Nested(OptionOut)
    quantity = ma.fields.Integer()
    unit_price_cents = ma.fields.Integer()
    amount_cents = ma.fields.Integer(metadata={"description": "the first charge: deposit or full price × quantity"})
    balance_cents = ma.fields.Integer(metadata={"description": "the balance charged in the balance window (0: none)"})
    currency = ma.fields.String()
    region = ma.fields.String()
    status = ma.fields.String(metadata={"description": ", ".join(presale.ORDER_STATES)})
    expires_at = ma.fields.DateTime()
    paid_at = ma.fields.DateTime(allow_none=True)
    balance_paid_at = ma.fields.DateTime(allow_none=True)
    ship_to = ma.fields.Nested(ShipTo, allow_none=True)
    shipment_status = ma.fields.String(metadata={"description": "'', in_production, shipped, delivered"})
    carrier = ma.fields.String()
    tracking_no = ma.fields.String()
    shipped_at = ma.fields.DateTime(allow_none=True)
    delivered_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class NotifyOut(ma.Schema):
    event_id = ma.fields.String()
    outcome = ma.fields.String(metadata={"description": "paid, refunded, duplicate outcomes repeat the first…"})


class ManifestArgs(ma.Schema):
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv", "xlsx")))


class SkuTotal(ma.Schema):
    sku = ma.fields.String()
    name = ma.fields.String()
    units = ma.fields.Integer()
    orders = ma.fields.Integer()


class RegionTotal(ma.Schema):
    region = ma.fields.String()
    units = ma.fields.Integer()


class ManifestLine(SkuTotal):
    region = ma.fields.String()


class ManifestOut(ma.Schema):
    campaign_id = ma.fields.Integer()
    title = ma.fields.String()
    total_units = ma.fields.Integer()
    by_sku = BoundedList(ma.fields.Nested(SkuTotal))
    by_region = BoundedList(ma.fields.Nested(RegionTotal))
    lines = BoundedList(ma.fields.Nested(ManifestLine))


def _polls_out(listed, viewer) -> list[dict]:
    """Polls with the viewer's votes in them read at once for the list."""
    votes = polls.my_votes(viewer, [poll.id for poll in listed])
    return [_poll_out(poll, viewer, votes) for poll in listed]


def _poll_out(poll, viewer, votes: dict[int, int] | None = None) -> dict:
    """A poll with live results; `votes` are the viewer's, by poll, when presenting a list."""
    total = poll.vote_count or 0
    if votes is None:
        votes = polls.my_votes(viewer, [poll.id])
    return {
        "id": poll.id,
        "title": poll.title,
        "description": poll.description,
        "idea_id": poll.idea_id,
        "min_level": poll.min_level,
        "closes_at": poll.closes_at,
        "open": poll.is_open(clock.now()),
        "vote_count": total,
        "my_vote": votes.get(poll.id),
        "options": [
            {
                "id": o.id,
                "name": o.name,
                "description": o.description,
                "vote_count": o.vote_count,
                "share": round(o.vote_count / total, 4) if total else 0.0,
                "image": image_out(o.image) if o.image is not None else None,
            }
            for o in poll.options
        ],
    }


def _campaign_out(campaign, credits: dict[int, dict | None] | None = None) -> dict:
    """A campaign; `credits` are the creators' credits, by campaign, when presenting a list."""
    shown = {k: getattr(campaign, k) for k in CampaignOut._declared_fields if k not in ("status", "options", "creator")}
    options = [
        {
            "id": o.id,
            "sku": o.sku,
            "name": o.name,
            "price_cents": o.price(campaign),
            "stock_cap": o.stock_cap,
            "reserved_quantity": o.reserved_quantity,
            "poll_option_id": o.poll_option_id,
        }
        for o in campaign.options
    ]
    return {
        **shown,
        "status": campaign.status(clock.now()),
        "options": options,
        "creator": (credits if credits is not None else presale.creator_credits([campaign]))[campaign.id],
    }


class IdeaFilter(PageArgs):
    idea_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID))


@blp.route("/polls", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(IdeaFilter, location="query")
@blp.response(200, page_of(PollOut))
@documented_errors(blp, 400)
def list_polls(args) -> dict:
    """Sample polls, newest first, with live results; `idea_id` keeps one idea's."""
    page = polls.polls_page(args["idea_id"], args["limit"], args["cursor"])
    return {"items": _polls_out(page.items, current_viewer()), "next_cursor": page.next_cursor}


@blp.route("/polls", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(PollIn)
@blp.response(201, PollOut)
@documented_errors(blp, 404)
def create_poll(body) -> dict:
    """Publish 2-8 candidate samples (product team), optionally for an idea; images are your uploads."""
    member = current_member()
    poll = polls.create_poll(member, **body)
    return _poll_out(poll, member)


@blp.route("/polls/<int:poll_id>", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, PollOut)
@documented_errors(blp, 404)
def get_poll(poll_id: int) -> dict:
    """One poll with live results and your vote."""
    return _poll_out(polls.get_poll(poll_id), current_viewer())


@blp.route("/polls/<int:poll_id>/vote", methods=["POST"])
@auth_required(blp)
@blp.arguments(VoteIn)
@blp.response(200, PollOut)
@documented_errors(blp, 404, 409)
def vote(body, poll_id: int) -> dict:
    """Vote once per poll (members at the poll's minimum level or above)."""
    member = current_member()
    polls.vote(member, poll_id, body["option_id"], clock.now())
    return _poll_out(polls.get_poll(poll_id), member)


@blp.route("/polls/<int:poll_id>/close", methods=["POST"])
@auth_required(blp, "product")
@blp.response(200, PollOut)
@documented_errors(blp, 404, 409)
def close_poll(poll_id: int) -> dict:
    """Close a poll early (product team; audited): the results so far stand."""
    member = current_member()
    return _poll_out(polls.close_early(member, poll_id, clock.now()), member)


@blp.route("/presales", methods=["GET"])
@auth_required(blp, optional=True)
@blp.arguments(IdeaFilter, location="query")
@blp.response(200, page_of(CampaignOut))
@documented_errors(blp, 400)
def list_presales(args) -> dict:
    """Pre-sale campaigns, newest first (drafts only for the product team); `idea_id` keeps one idea's."""
    page = presale.campaigns_page(current_viewer(), args["idea_id"], args["limit"], args["cursor"])
    credits = presale.creator_credits(page.items)
    return page_body(page, lambda campaign: _campaign_out(campaign, credits))


@blp.route("/presales", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(CampaignIn)
@blp.response(201, CampaignOut)
@documented_errors(blp, 404, 409)
def create_presale(body) -> dict:
    """Draft a pre-sale: price (and deposit) in cents, MOQ, stock cap, per-member limit, window, early access."""
    member = current_member()
    campaign = presale.create_campaign(member, **body)
    return _campaign_out(campaign)


@blp.route("/presales/<int:campaign_id>", methods=["GET"])
@auth_required(blp, optional=True)
@blp.response(200, CampaignOut)
@documented_errors(blp, 404)
def get_presale(campaign_id: int) -> dict:
    """One pre-sale with its live reserved and paid quantities."""
    return _campaign_out(presale.get_campaign(campaign_id, current_viewer()))


@blp.route("/presales/<int:campaign_id>/state", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(StateIn)
@blp.response(200, CampaignOut)
@documented_errors(blp, 404, 409)
def set_state(body, campaign_id: int) -> dict:
    """published (from draft), in_production (after success), shipped (product team; audited)."""
    member = current_member()
    if body["state"] == "published":
        campaign = presale.publish(member, campaign_id)
    else:
        campaign = presale.advance(member, campaign_id, body["state"])
    return _campaign_out(campaign)


@blp.route("/presales/<int:campaign_id>/orders", methods=["POST"])
@auth_required(blp)
@blp.arguments(RequiredIdempotencyHeader, location="headers")
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
@documented_errors(blp, 404, 409)
def place_order(headers, body, campaign_id: int) -> Order:
    """Reserve units (never past the stock cap) at today's price; pay within ORDER_PAYMENT_MINUTES. The
    Idempotency-Key is required: a double tap with the same key returns the first order."""
    order, _ = presale.place_order(
        current_member(),
        campaign_id,
        body["option_id"],
        body["quantity"],
        key_or_new(headers),
        body["region"],
        clock.now(),
        body["address_id"],
    )
    return order


@blp.route("/me/orders", methods=["GET"])
@auth_required(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(OrderOut))
@documented_errors(blp, 400)
def my_orders(args) -> dict:
    """Your orders, newest first."""
    return page_body(presale.my_orders(current_member(), args["limit"], args["cursor"]))


@blp.route("/orders/<int:order_id>", methods=["GET"])
@auth_required(blp)
@blp.response(200, OrderOut)
@documented_errors(blp, 404)
def get_order(order_id: int) -> Order:
    """One of your orders."""
    return presale.own_order(current_member(), order_id)


@blp.route("/orders/<int:order_id>", methods=["DELETE"])
@auth_required(blp)
@blp.response(200, OrderOut)
@documented_errors(blp, 404, 409)
def cancel_order(order_id: int) -> Order:
    """Cancel while the pre-sale is open: unpaid orders end, paid ones become refund requests."""
    order = presale.cancel_order(current_member(), order_id, clock.now())
    return order


@blp.route("/payments/notify", methods=["POST"])
@blp.response(200, NotifyOut)
@documented_errors(blp, 400, 401, 503)
def payment_notify() -> dict:
    """Signed notification from the payment provider (HMAC-SHA256, header X-Payment-Signature: t=…,v1=…).

    Body: {"event_id", "type": payment.succeeded|payment.failed|refund.succeeded|refund.failed, "order_id",
    "amount_cents", "currency", "provider_ref"}. Applied once per event id; a payment never credits points.
    """
    cfg = current_app.config
    body = request.get_data()
    payments.verify(
        cfg["PAYMENT_WEBHOOK_SECRET"],
        request.headers.get("X-Payment-Signature"),
        body,
        clock.now(),
        cfg["PAYMENT_TOLERANCE_SECONDS"],
    )
    note = payments.handle(payments.parse(body))
    return {"event_id": note.event_id, "outcome": note.outcome}


class WeChatPayParams(ma.Schema):
    out_trade_no = ma.fields.String(required=True)
    timeStamp = ma.fields.String(required=True)
    nonceStr = ma.fields.String(required=True)
    package = ma.fields.String(required=True, metadata={"description": "prepay_id=…"})
    signType = ma.fields.String(required=True, metadata={"description": "RSA"})
    paySign = ma.fields.String(required=True)


def _wechatpay() -> WeChatPayClient:
    client = configured_client()
    if client is None:
        raise DependencyDown("WeChat Pay is not configured", code="payments_not_configured")
    return client


@blp.route("/orders/<int:order_id>/wechatpay", methods=["POST"])
@auth_required(blp)
@blp.response(200, WeChatPayParams)
@documented_errors(blp, 404, 409, 503)
def pay_with_wechat(order_id: int) -> dict:
    """Start paying your unpaid order in the mini-program (WeChat Pay JSAPI): pass the answer, without
    `out_trade_no`, to `wx.requestPayment`. The order becomes paid when WeChat Pay's notification arrives."""
    return payments.start_wechat_payment(current_member(), order_id, _wechatpay)


@blp.route("/payments/wechatpay/notify", methods=["POST"])
@blp.response(200, NotifyOut)
@documented_errors(blp, 400, 401, 422, 503)
def wechatpay_notify() -> dict:
    """WeChat Pay's notification (payment or refund): the signature is verified with WeChat Pay's public key, the
    timestamp must be fresh, the resource is decrypted with the APIv3 key. Applied once per notification id; any
    answer other than 2xx makes WeChat Pay send it again. A payment never credits points."""
    opened = _wechatpay().open_notification(request.headers, request.get_data())
    note = payments.handle(payments.from_wechat(opened))
    return {"event_id": note.event_id, "outcome": note.outcome}


@blp.route("/presales/<int:campaign_id>/close", methods=["POST"])
@auth_required(blp, "product")
@blp.response(200, CampaignOut)
@documented_errors(blp, 404, 409)
def close(campaign_id: int) -> dict:
    """Settle a closed pre-sale (idempotent): paid ≥ MOQ → succeeded and confirmed, else failed and refunded."""
    member = current_member()
    campaign = presale.settle(campaign_id, clock.now(), actor=member)
    return _campaign_out(campaign)


@blp.route("/presales/<int:campaign_id>/manifest", methods=["GET"])
@auth_required(blp, "product", "operator")
@blp.arguments(ManifestArgs, location="query")
@blp.response(200, ManifestOut)
@blp.alt_response(200, schema=CSV_BODY, content_type="text/csv", description="with ?format=csv: UTF-8 with BOM")
@blp.alt_response(200, schema=XLSX_BODY, content_type=XLSX, description="with ?format=xlsx")
@documented_errors(blp, 404, 409)
def read_manifest(args, campaign_id: int) -> dict | Response:
    """Factory manifest of a succeeded pre-sale: units by SKU and by region."""
    data = manifest.manifest(campaign_id, current_member())
    if args["format"] == "csv":
        return csv_response(manifest.manifest_csv(data), f"presale-{campaign_id}-manifest.csv")
    if args["format"] == "xlsx":
        return xlsx_response(manifest.manifest_xlsx(data), f"presale-{campaign_id}-manifest.xlsx")
    return data


@blp.route("/orders/<int:order_id>/address", methods=["PUT"])
@auth_required(blp)
@blp.arguments(AddressChoice)
@blp.response(200, OrderOut)
@documented_errors(blp, 404, 409)
def choose_address(body, order_id: int) -> Order:
    """Where your order goes: a copy of one of your addresses, changeable until the order ships."""
    return fulfilment.set_address(current_member(), order_id, body["address_id"])


class ShippingArgs(ma.Schema):
    format = ma.fields.String(load_default="csv", validate=ma.validate.OneOf(("csv", "xlsx")))


@blp.route("/presales/<int:campaign_id>/shipping", methods=["GET"])
@auth_required(blp, "fulfilment")
@blp.arguments(ShippingArgs, location="query")
@blp.response(200, schema=CSV_BODY, content_type="text/csv", description="CSV, UTF-8 with BOM")
@blp.alt_response(200, schema={"type": "string", "format": "binary"}, content_type=XLSX, description="?format=xlsx")
@documented_errors(blp, 404, 409)
def shipping_list(args, campaign_id: int) -> Response:
    """The fulfilment partner's list: every confirmed order with SKU, quantity and full address (fulfilment
    staff; each export is audited)."""
    _, rows = fulfilment.shipping_rows(current_member(), campaign_id)
    name = f"presale-{campaign_id}-shipping"
    if args["format"] == "xlsx":
        return xlsx_response(fulfilment.shipping_xlsx(rows), f"{name}.xlsx")
    return csv_response(fulfilment.shipping_csv(rows), f"{name}.csv")


class ShipmentIn(ma.Schema):
    order_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    status = ma.fields.String(load_default="shipped", validate=ma.validate.OneOf(tuple(fulfilment.SHIPMENT_STEPS)))
    carrier = ma.fields.String(load_default="", validate=ma.validate.Length(max=40))
    tracking_no = ma.fields.String(load_default="", validate=ma.validate.Length(max=64))


class ShipmentsIn(ma.Schema):
    items = BoundedList(ma.fields.Nested(ShipmentIn), required=True, validate=ma.validate.Length(min=1, max=1000))


class ShipmentError(ma.Schema):
    line = ma.fields.Integer()
    order_id = ma.fields.Integer(allow_none=True)
    message = ma.fields.String()


class ShipmentsOut(ma.Schema):
    updated = ma.fields.Integer()
    errors = BoundedList(ma.fields.Nested(ShipmentError))


class PartnerFile(ma.Schema):
    file = Upload(
        required=True,
        metadata={"description": "CSV with order_id, carrier, tracking_no (status optional); UTF-8 or GB18030"},
    )


@blp.route("/presales/<int:campaign_id>/shipments", methods=["POST"])
@auth_required(blp, "fulfilment")
@blp.arguments(ShipmentsIn)
@blp.response(200, ShipmentsOut)
@documented_errors(blp, 404, 409)
def record_shipments(body, campaign_id: int) -> dict:
    """Shipment status of confirmed orders: in_production → shipped (carrier and tracking number) → delivered.
    Each line stands alone: refused lines are listed, the others applied. Buyers hear when theirs ships."""
    return fulfilment.record_shipments(current_member(), campaign_id, body["items"])


@blp.route("/presales/<int:campaign_id>/shipments/upload", methods=["POST"])
@accepts("multipart/form-data")
@auth_required(blp, "fulfilment")
@blp.arguments(PartnerFile, location="files")
@blp.response(200, ShipmentsOut)
@documented_errors(blp, 404, 409, 413, 415)
def upload_shipments(files, campaign_id: int) -> dict:
    """The same, from the fulfilment partner's CSV file."""
    if request.form:
        raise ValidationFailed("unexpected fields", details={name: ["unknown field"] for name in request.form})
    return fulfilment.record_shipments(current_member(), campaign_id, files["file"].read())


class AnomalyArgs(PageArgs):
    unresolved = ma.fields.Boolean(load_default=True)


class AnomalyOut(ma.Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String()
    kind = ma.fields.String()
    stage = ma.fields.String()
    order_id = ma.fields.Integer(allow_none=True)
    amount_cents = ma.fields.Integer()
    currency = ma.fields.String()
    provider_ref = ma.fields.String()
    outcome = ma.fields.String(metadata={"description": ", ".join(payments.ANOMALIES)})
    received_at = ma.fields.DateTime()
    resolved_at = ma.fields.DateTime(allow_none=True)
    resolved_by = ma.fields.Integer(allow_none=True)
    resolution = ma.fields.String()


class ResolutionIn(ma.Schema):
    resolution = ma.fields.String(
        required=True, validate=[ma.validate.Length(min=1, max=500), ma.validate.Regexp(r"\s*\S")]
    )


@blp.route("/payments/anomalies", methods=["GET"])
@auth_required(blp, "product", "operator")
@blp.arguments(AnomalyArgs, location="query")
@blp.response(200, page_of(AnomalyOut))
@documented_errors(blp, 400)
def payment_anomalies(args) -> dict:
    """Money that needs a person: amounts or currencies that differ from the order, payments for orders already
    over (refunded automatically), notifications for unknown orders. Unresolved ones by default."""
    return page_body(payments.anomalies(current_member(), args["unresolved"], args["limit"], args["cursor"]))


@blp.route("/payments/anomalies/<int:anomaly_id>/resolve", methods=["POST"])
@auth_required(blp, "product")
@blp.arguments(ResolutionIn)
@blp.response(200, AnomalyOut)
@documented_errors(blp, 404, 409)
def resolve_anomaly(body, anomaly_id: int) -> payments.PaymentNotification:
    """Record what was done about an anomaly (audited); resolving twice is 409."""
    return payments.resolve_anomaly(current_member(), anomaly_id, body["resolution"])
