"""The rewards mall and lotteries: where points are spent."""

import marshmallow as ma

from api.auth import auth_required, current_member
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.idempotency import IdempotencyHeader, key_or_new
from api.ids import MAX_ID
from api.pagination import PageArgs, page_body, page_of
from economy import lottery, mall
from economy.lottery import Draw
from economy.mall import Redemption, RewardItem
from kernel import clock

blp = Blueprint("rewards", __name__, url_prefix="/api/v1", description="Rewards mall and lotteries")


class RewardOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String()
    price_points = ma.fields.Integer()
    stock = ma.fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    per_member_limit = ma.fields.Integer(allow_none=True)
    min_level = ma.fields.Integer()
    starts_at = ma.fields.DateTime(allow_none=True)
    ends_at = ma.fields.DateTime(allow_none=True)
    enabled = ma.fields.Boolean()


class RewardIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    price_points = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=10_000_000))
    stock = ma.fields.Integer(load_default=None, allow_none=True, validate=ma.validate.Range(min=0, max=10_000_000))
    per_member_limit = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID)
    )
    min_level = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=10))
    starts_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    ends_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    enabled = ma.fields.Boolean(load_default=True)


class RewardPatch(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=80))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    price_points = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10_000_000))
    stock = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=10_000_000))
    per_member_limit = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1, max=MAX_ID))
    min_level = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10))
    starts_at = ma.fields.AwareDateTime(allow_none=True)
    ends_at = ma.fields.AwareDateTime(allow_none=True)
    enabled = ma.fields.Boolean()


class RedeemIn(ma.Schema):
    quantity = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100))


class RedemptionOut(ma.Schema):
    id = ma.fields.Integer()
    item_id = ma.fields.Integer()
    item_name = ma.fields.Function(lambda r: r.item.name)
    quantity = ma.fields.Integer()
    points_spent = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": "requested, fulfilled or cancelled (refunded)"})
    shipping_note = ma.fields.String()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class FulfilmentIn(ma.Schema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("fulfilled", "cancelled")))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=300))


class PrizeIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    weight = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=1_000_000))
    stock = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=1_000_000))


class PrizeOut(PrizeIn):
    id = ma.fields.Integer()


class LotteryIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=80))
    cost_points = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=1_000_000))
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)
    miss_weight = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=1_000_000))
    prizes = BoundedList(ma.fields.Nested(PrizeIn), required=True, validate=ma.validate.Length(min=1, max=50))


class LotteryOut(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    cost_points = ma.fields.Integer()
    miss_weight = ma.fields.Integer()
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime()
    seed_commitment = ma.fields.String(metadata={"description": "SHA-256 of the seed, published up front"})
    seed = ma.fields.String(allow_none=True, metadata={"description": "revealed once the lottery has ended"})
    draw_count = ma.fields.Integer()
    prizes = BoundedList(ma.fields.Nested(PrizeOut))


class DrawOut(ma.Schema):
    id = ma.fields.Integer()
    lottery_id = ma.fields.Integer()
    nonce = ma.fields.String(metadata={"description": "the Idempotency-Key, part of the draw's input"})
    random_hex = ma.fields.String(metadata={"description": "HMAC-SHA256(seed, 'lottery:draw:member:nonce')"})
    prize = ma.fields.Nested(PrizeOut, allow_none=True)
    created_at = ma.fields.DateTime()


def _lottery_out(item: lottery.Lottery) -> dict:
    shown = {k: getattr(item, k) for k in LotteryOut._declared_fields if k != "seed"}
    return {**shown, "seed": item.seed if item.seed_revealed(clock.now()) else None}


@blp.route("/rewards", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(RewardOut))
@documented_errors(blp, 400)
def list_rewards(args) -> dict:
    """Rewards on sale now or later, cheapest first."""
    return page_body(mall.list_items(clock.now(), args["limit"], args["cursor"]))


@blp.route("/rewards", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(RewardIn)
@blp.response(201, RewardOut)
def create_reward(body) -> RewardItem:
    """Put a reward in the mall (operators; audited)."""
    item = mall.create_item(current_member(), **body)
    return item


@blp.route("/rewards/<int:item_id>", methods=["PATCH"])
@auth_required(blp, "operator")
@blp.arguments(RewardPatch)
@blp.response(200, RewardOut)
@documented_errors(blp, 404)
def update_reward(body, item_id: int) -> RewardItem:
    """Change price, stock, limits, window or availability (operators; audited)."""
    item = mall.update_item(current_member(), item_id, **body)
    return item


@blp.route("/rewards/<int:item_id>/redeem", methods=["POST"])
@auth_required(blp)
@blp.arguments(IdempotencyHeader, location="headers")
@blp.arguments(RedeemIn)
@blp.response(201, RedemptionOut)
@documented_errors(blp, 404, 409)
def redeem(headers, body, item_id: int) -> Redemption:
    """Spend points on a reward. With an Idempotency-Key a retry returns the first redemption, spending nothing."""
    redemption, _ = mall.redeem(current_member(), item_id, body["quantity"], key_or_new(headers), clock.now())
    return redemption


@blp.route("/me/redemptions", methods=["GET"])
@auth_required(blp)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(RedemptionOut))
@documented_errors(blp, 400)
def my_redemptions(args) -> dict:
    """Your redemptions and their fulfilment status."""
    return page_body(mall.my_redemptions(current_member(), args["limit"], args["cursor"]))


@blp.route("/redemptions/<int:redemption_id>", methods=["PATCH"])
@auth_required(blp, "operator")
@blp.arguments(FulfilmentIn)
@blp.response(200, RedemptionOut)
@documented_errors(blp, 404, 409)
def fulfil(body, redemption_id: int) -> Redemption:
    """Mark a redemption fulfilled, or cancel it (points refunded, stock returned) — operators, audited."""
    redemption = mall.set_fulfilment(current_member(), redemption_id, body["status"], body["note"])
    return redemption


@blp.route("/lotteries", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(LotteryOut))
@documented_errors(blp, 400)
def list_lotteries(args) -> dict:
    """Lotteries, newest first, with their published odds and seed commitments."""
    return page_body(lottery.list_lotteries(args["limit"], args["cursor"]), _lottery_out)


@blp.route("/lotteries", methods=["POST"])
@auth_required(blp, "operator")
@blp.arguments(LotteryIn)
@blp.response(201, LotteryOut)
def create_lottery(body) -> dict:
    """Open a lottery (operators; audited). Prizes are goods or perks, never points."""
    item = lottery.create_lottery(current_member(), **body)
    return _lottery_out(item)


@blp.route("/lotteries/<int:lottery_id>", methods=["GET"])
@blp.response(200, LotteryOut)
@documented_errors(blp, 404)
def get_lottery(lottery_id: int) -> dict:
    """One lottery; its seed appears once it has ended so every draw can be verified."""
    return _lottery_out(lottery.get_lottery(lottery_id))


@blp.route("/lotteries/<int:lottery_id>/draw", methods=["POST"])
@auth_required(blp)
@blp.arguments(IdempotencyHeader, location="headers")
@blp.response(201, DrawOut)
@documented_errors(blp, 404, 409)
def draw(headers, lottery_id: int) -> Draw:
    """Pay the entry cost and draw. The Idempotency-Key is the draw's nonce: a retry returns the same draw."""
    result, _ = lottery.draw(current_member(), lottery_id, key_or_new(headers), clock.now())
    return result
