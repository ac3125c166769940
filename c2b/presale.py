"""Pre-sale campaigns: from an approved idea or a sample poll to a factory order, with money handled safely.

Stock is reserved when an order is placed, by a conditional UPDATE that never passes the stock cap, so a rush of
buyers sells exactly the cap. Unpaid orders expire and give their units back. Orders and campaigns move between
states only by conditional UPDATEs on their current state, which makes settlement and every payment notification
idempotent. Money never touches the points ledger: nothing here can credit points.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from c2b import events
from c2b.ideas import IdeaSupport, get_idea
from c2b.polls import PollVote, get_poll
from forum.members import User
from forum.notifications import notify
from kernel import audit, clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, NotFound, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, move, move_or_refuse, rows_changed
from kernel.unit_of_work import transaction

ORDER_STATES = ("pending_payment", "paid", "confirmed", "cancelled", "expired", "refund_pending", "refunded")
LIVE_ORDER_STATES = ("pending_payment", "paid", "confirmed")


class Campaign(Model):
    __tablename__ = "presale_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    poll_id: Mapped[int | None] = mapped_column(ForeignKey("sample_polls.id"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    deposit_cents: Mapped[int | None] = mapped_column(Integer)
    moq: Mapped[int] = mapped_column(Integer)
    stock_cap: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=5)
    early_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    early_access: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # draft → published (scheduled/open/closed by the clock) → succeeded | failed → in_production → shipped
    state: Mapped[str] = mapped_column(String(16), default="draft")
    reserved_quantity: Mapped[int] = mapped_column(Integer, default=0)
    paid_quantity: Mapped[int] = mapped_column(Integer, default=0)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    options: Mapped[list["CampaignOption"]] = relationship(order_by="CampaignOption.id", lazy="selectin")

    def status(self, now: datetime) -> str:
        if self.state != "published":
            return self.state
        if now < self.opens_at:
            return "scheduled"
        return "open" if now < self.closes_at else "closed"


class CampaignOption(Model):
    __tablename__ = "presale_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))


class Order(Model):
    __tablename__ = "presale_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("presale_options.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)  # snapshot at order time
    amount_cents: Mapped[int] = mapped_column(Integer)  # what the member pays now (deposit or full price)
    currency: Mapped[str] = mapped_column(String(3))
    region: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_ref: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    option: Mapped[CampaignOption] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_presale_orders_user_key"),
        Index("ix_presale_orders_campaign_status", "campaign_id", "status"),
        Index("ix_presale_orders_user", "user_id", "id"),
        Index("ix_presale_orders_expiry", "status", "expires_at"),
    )


class RefundRequest(Model):
    """Money owed back to a member: requested → sent (to the provider) → refunded | failed."""

    __tablename__ = "refund_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("presale_orders.id"), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    provider_ref: Mapped[str] = mapped_column(String(80), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Campaigns


def create_campaign(actor: User, **fields) -> Campaign:
    actor.ensure_role("product", doing="run pre-sales")
    options = fields.pop("options")
    if fields["closes_at"] <= fields["opens_at"]:
        raise ValidationFailed("the campaign closes before it opens", details={"closes_at": ["after opens_at"]})
    if fields.get("early_access_at") and fields["early_access_at"] >= fields["opens_at"]:
        raise ValidationFailed("early access starts before opening", details={"early_access_at": ["before opens_at"]})
    if fields.get("deposit_cents") and fields["deposit_cents"] > fields["unit_price_cents"]:
        raise ValidationFailed("the deposit exceeds the price", details={"deposit_cents": ["≤ unit_price_cents"]})
    if fields.get("idea_id"):
        idea = get_idea(fields["idea_id"])
        if idea.status != "approved":
            raise Conflict("only approved ideas go to pre-sale", code="idea_not_approved")
    if fields.get("poll_id"):
        get_poll(fields["poll_id"])
    if fields.get("stock_cap") is not None and fields["stock_cap"] < 1:
        raise ValidationFailed("stock cap must be positive", details={"stock_cap": ["≥ 1"]})
    campaign = Campaign(
        **fields, state="draft", reserved_quantity=0, paid_quantity=0, created_by=actor.id, created_at=clock.now()
    )
    db.session.add(campaign)
    db.session.flush()
    for option in options:
        db.session.add(CampaignOption(campaign_id=campaign.id, sku=option["sku"], name=option["name"]))
    db.session.flush()
    db.session.refresh(campaign)
    audit.record(actor, "presale.create", "presale", campaign.id)
    return campaign


def get_campaign(campaign_id: int, viewer: User | None = None) -> Campaign:
    staff = viewer is not None and viewer.has_role("product")
    return get_or_404(Campaign, campaign_id, "presale", visible=lambda campaign: staff or campaign.state != "draft")


def list_campaigns(viewer: User | None) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.id.desc())
    if not (viewer and viewer.has_role("product")):
        query = query.where(Campaign.state != "draft")
    return list(db.session.scalars(query))


def publish(actor: User, campaign_id: int) -> Campaign:
    actor.ensure_role("product", doing="run pre-sales")
    campaign = get_campaign(campaign_id, actor)
    _move_campaign(campaign, ("draft",), "published")
    audit.record(actor, "presale.published", "presale", campaign.id)
    return campaign


def advance(actor: User, campaign_id: int, to: str) -> Campaign:
    """After success: in_production, then shipped."""
    actor.ensure_role("product", doing="run pre-sales")
    campaign = get_campaign(campaign_id, actor)
    source = {"in_production": ("succeeded",), "shipped": ("in_production",)}.get(to)
    if source is None:
        raise ValidationFailed("unknown state", details={"state": ["in_production or shipped"]})
    _move_campaign(campaign, source, to)
    audit.record(actor, f"presale.{to}", "presale", campaign.id)
    return campaign


def _move_campaign(campaign: Campaign, sources: tuple[str, ...], to: str, **values) -> None:
    move_or_refuse(campaign, to, sources=sources, column="state", what="a pre-sale", **values)


# Early-access rules that other packages answer (e.g. "holds badge X" from the economy), registered by name so
# that c2b never imports them.
EarlyAccessCheck = Callable[[User, Any], bool]
_early_access_checks: dict[str, EarlyAccessCheck] = {}


def early_access_rule(name: str) -> Callable[[EarlyAccessCheck], EarlyAccessCheck]:
    def register(check: EarlyAccessCheck) -> EarlyAccessCheck:
        _early_access_checks[name] = check
        return check

    return register


def eligible_early(member: User, campaign: Campaign) -> bool:
    rules = campaign.early_access or {}
    checks = []
    if rules.get("idea_supporters") and campaign.idea_id:
        checks.append(db.session.get(IdeaSupport, (campaign.idea_id, member.id)) is not None)
    if rules.get("poll_voters") and campaign.poll_id:
        checks.append(db.session.get(PollVote, (campaign.poll_id, member.id)) is not None)
    if rules.get("min_level"):
        checks.append(member.level >= rules["min_level"])
    for name, check in _early_access_checks.items():
        if rules.get(name):
            checks.append(check(member, rules[name]))
    return any(checks)


# Orders


def _order_by_key(user_id: int, key: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))


def place_order(
    member: User, campaign_id: int, option_id: int, quantity: int, key: str, region: str, now: datetime
) -> tuple[Order, bool]:
    prior = _order_by_key(member.id, key)
    if prior is not None:
        return prior, False
    campaign = get_campaign(campaign_id, member)
    status = campaign.status(now)
    early = (
        status == "scheduled"
        and campaign.early_access_at is not None
        and now >= campaign.early_access_at
        and eligible_early(member, campaign)
    )
    if status != "open" and not early:
        raise Conflict("this pre-sale is not taking orders", code="presale_not_open", details={"status": status})
    if option_id not in {o.id for o in campaign.options}:
        raise ValidationFailed("not an option of this pre-sale", details={"option_id": ["unknown option"]})
    expire_unpaid(now, campaign_id=campaign.id)  # give back stalled units before deciding there are none
    # The member's row serialises their own orders, so the per-member limit holds under double taps.
    db.session.execute(select(User.id).where(User.id == member.id).with_for_update())
    prior = _order_by_key(member.id, key)
    if prior is not None:
        return prior, False
    held = db.session.execute(
        select(func.coalesce(func.sum(Order.quantity), 0)).where(
            Order.campaign_id == campaign.id, Order.user_id == member.id, Order.status.in_(LIVE_ORDER_STATES)
        )
    ).scalar_one()
    if held + quantity > campaign.per_member_limit:
        raise Conflict(
            "over the per-member limit",
            code="order_limit",
            details={"limit": campaign.per_member_limit, "already": held},
        )
    reserve = update(Campaign).where(Campaign.id == campaign.id)
    if campaign.stock_cap is not None:
        reserve = reserve.where(Campaign.reserved_quantity + quantity <= campaign.stock_cap)
    if rows_changed(reserve.values(reserved_quantity=Campaign.reserved_quantity + quantity)) != 1:
        raise Conflict("sold out", code="sold_out")
    per_unit = campaign.deposit_cents or campaign.unit_price_cents
    order = Order(
        campaign_id=campaign.id,
        user_id=member.id,
        option_id=option_id,
        quantity=quantity,
        unit_price_cents=campaign.unit_price_cents,
        amount_cents=per_unit * quantity,
        currency=campaign.currency,
        region=(region or member.region or "").strip()[:64],
        status="pending_payment",
        idempotency_key=key,
        expires_at=now + timedelta(minutes=current_app.config["ORDER_PAYMENT_MINUTES"]),
        payment_ref="",
        created_at=now,
        updated_at=now,
    )
    db.session.add(order)
    db.session.flush()
    return order, True


def get_order(order_id: int) -> Order:
    return get_or_404(Order, order_id, "order")


def own_order(member: User, order_id: int) -> Order:
    order = get_order(order_id)
    if order.user_id != member.id:
        raise NotFound("no such order", code="order_not_found")  # not yours: indistinguishable from missing
    return order


def move_order(order: Order, sources: tuple[str, ...], to: str, **values) -> bool:
    return move(order, to, sources=sources, updated_at=clock.now(), **values)


def _release(order: Order, was_paid: bool) -> None:
    values = {"reserved_quantity": Campaign.reserved_quantity - order.quantity}
    if was_paid:
        values["paid_quantity"] = Campaign.paid_quantity - order.quantity
    db.session.execute(update(Campaign).where(Campaign.id == order.campaign_id).values(**values))


def request_refund(order: Order, reason: str) -> RefundRequest:
    existing = db.session.scalar(select(RefundRequest).where(RefundRequest.order_id == order.id))
    if existing is not None:
        return existing
    now = clock.now()
    refund = RefundRequest(
        order_id=order.id,
        amount_cents=order.amount_cents,
        currency=order.currency,
        reason=reason,
        status="requested",
        provider_ref="",
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def cancel_order(member: User, order_id: int, now: datetime) -> Order:
    """Members cancel while the pre-sale is open: unpaid orders just end, paid ones are refunded."""
    order = own_order(member, order_id)
    campaign = db.session.get_one(Campaign, order.campaign_id)
    if campaign.status(now) not in ("open", "scheduled"):
        raise Conflict("orders can be cancelled only while the pre-sale is open", code="presale_not_open")
    if move_order(order, ("pending_payment",), "cancelled"):
        _release(order, was_paid=False)
    elif move_order(order, ("paid",), "refund_pending"):
        _release(order, was_paid=True)
        request_refund(order, "cancelled_by_member")
    elif order.status not in ("cancelled", "refund_pending", "refunded"):
        raise Conflict(f"a {order.status} order cannot be cancelled", code="order_not_cancellable")
    return order


def expire_unpaid(now: datetime, campaign_id: int | None = None) -> int:
    query = select(Order).where(Order.status == "pending_payment", Order.expires_at <= now)
    if campaign_id is not None:
        query = query.where(Order.campaign_id == campaign_id)
    expired = 0
    for order in db.session.scalars(query).all():
        if move_order(order, ("pending_payment",), "expired"):
            _release(order, was_paid=False)
            expired += 1
    return expired


def my_orders(member: User, limit: int, cursor: str | None) -> Page:
    return keyset_page(select(Order).where(Order.user_id == member.id), [Order.id], limit, cursor)


# Settlement


def settle(campaign_id: int, now: datetime, actor: User | None = None) -> Campaign:
    """At or after close: enough paid units → succeeded and orders confirmed; too few → failed and refunds.

    Safe to repeat and to race: the campaign moves once; orders move by conditional updates. A staff member's
    request is audited; the scheduled job (no actor) is not.
    """
    if actor is not None:
        actor.ensure_role("product", doing="settle pre-sales")
    campaign = _settle(get_campaign(campaign_id, actor), now, actor)
    if actor is not None:
        audit.record(actor, "presale.settle", "presale", campaign.id, state=campaign.state)
    return campaign


def _settle(campaign: Campaign, now: datetime, actor: User | None) -> Campaign:
    if campaign.state in ("succeeded", "failed", "in_production", "shipped"):
        return campaign
    if campaign.status(now) != "closed":
        raise Conflict(
            "the pre-sale has not closed yet", code="presale_not_closed", details={"status": campaign.status(now)}
        )
    expire_unpaid(now, campaign_id=campaign.id)
    db.session.refresh(campaign)
    succeeded = campaign.paid_quantity >= campaign.moq
    _move_campaign(campaign, ("published",), "succeeded" if succeeded else "failed", settled_at=now)
    for order in db.session.scalars(select(Order).where(Order.campaign_id == campaign.id)).all():
        if succeeded and move_order(order, ("paid",), "confirmed"):
            _tell(order, f"预售「{campaign.title}」成团成功，订单已确认")
        elif not succeeded and move_order(order, ("paid",), "refund_pending"):
            request_refund(order, "campaign_failed")
            _tell(order, f"预售「{campaign.title}」未达起订量，订单将全额退款")
        elif move_order(order, ("pending_payment",), "cancelled"):
            _release(order, was_paid=False)
    outbox.emit(
        events.PRESALE_SETTLED,
        actor_id=actor.id if actor else None,
        subject=("presale", campaign.id),
        payload={"succeeded": succeeded, "paid_quantity": campaign.paid_quantity, "moq": campaign.moq},
    )
    return campaign


def settle_due(now: datetime) -> int:
    due = db.session.scalars(select(Campaign.id).where(Campaign.state == "published", Campaign.closes_at <= now)).all()
    for campaign_id in due:
        with transaction():  # one campaign per transaction: a failure leaves the others settled
            settle(campaign_id, now)
    return len(due)


def _tell(order: Order, message: str) -> None:
    notify(order.user_id, "system", subject=("order", order.id), message=message)
