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
from sqlalchemy import JSON, ForeignKey, Index, Integer, Select, String, Text, UniqueConstraint, func, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from c2b import events
from c2b.addresses import Address
from c2b.addresses import snapshot as address_snapshot
from c2b.ideas import IdeaSupport, get_idea, ideas_by_id
from c2b.polls import PollOption, PollVote, get_poll
from forum import phones
from forum.members import User
from kernel import audit, clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, NotFound, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, move, move_or_refuse, rows_changed
from kernel.unit_of_work import transaction

ORDER_STATES = (
    "pending_payment",
    "deposit_paid",
    "paid",
    "confirmed",
    "cancelled",
    "expired",
    "forfeited",
    "refund_pending",
    "refunded",
)
LIVE_ORDER_STATES = ("pending_payment", "deposit_paid", "paid", "confirmed")
# What happens to the deposit of a member who does not pay the balance in time; shown to members before they pay.
DEPOSIT_POLICIES = ("forfeit", "refund")
# An order is paid in one charge (full price) or two (deposit, then balance); each is a payment "stage".
STAGES = ("first", "balance")
FINAL_CAMPAIGN_STATES = ("succeeded", "failed", "in_production", "shipped")


class Campaign(Model):
    __tablename__ = "presale_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    poll_id: Mapped[int | None] = mapped_column(ForeignKey("sample_polls.id"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    deposit_cents: Mapped[int | None] = mapped_column(Integer)  # per unit; set → deposit then balance
    balance_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the balance window's deadline
    deposit_policy: Mapped[str] = mapped_column(String(8), default="forfeit")
    balance_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    moq: Mapped[int] = mapped_column(Integer)
    stock_cap: Mapped[int | None] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=5)
    # Recognition of the idea's creator at success: free units of the product (points and badges come from the
    # economy's rules for idea_produced). Never money.
    creator_free_units: Mapped[int] = mapped_column(Integer, default=0)
    early_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    early_access: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # draft → published (scheduled/open/closed by the clock) → [balance_due] → succeeded | failed → in_production
    # → shipped. Only deposit campaigns pass through balance_due: their MOQ is counted on deposits at close.
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
    price_cents: Mapped[int | None] = mapped_column(Integer)  # None: the campaign's unit price
    stock_cap: Mapped[int | None] = mapped_column(Integer)  # None: only the campaign's cap applies
    reserved_quantity: Mapped[int] = mapped_column(Integer, default=0)
    poll_option_id: Mapped[int | None] = mapped_column(ForeignKey("poll_options.id"))  # the sample it came from

    def price(self, campaign: "Campaign") -> int:
        return self.price_cents if self.price_cents is not None else campaign.unit_price_cents


class Order(Model):
    __tablename__ = "presale_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("presale_campaigns.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("presale_options.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)  # snapshot at order time
    amount_cents: Mapped[int] = mapped_column(Integer)  # the first charge: deposit or full price
    balance_cents: Mapped[int] = mapped_column(Integer, default=0)  # the second charge (deposit campaigns)
    currency: Mapped[str] = mapped_column(String(3))
    region: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_ref: Mapped[str] = mapped_column(String(80), default="")
    balance_paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    balance_ref: Mapped[str] = mapped_column(String(80), default="")
    ship_to: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the address as it was when chosen
    # "" → in_production → shipped (carrier, tracking number) → delivered
    shipment_status: Mapped[str] = mapped_column(String(16), default="")
    carrier: Mapped[str] = mapped_column(String(40), default="")
    tracking_no: Mapped[str] = mapped_column(String(64), default="")
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    option: Mapped[CampaignOption] = relationship(lazy="joined")

    def charge(self, stage: str) -> int:
        return self.amount_cents if stage == "first" else self.balance_cents

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
    order_id: Mapped[int] = mapped_column(ForeignKey("presale_orders.id"))
    stage: Mapped[str] = mapped_column(String(8), default="first")  # which charge goes back
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    provider_ref: Mapped[str] = mapped_column(String(80), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("order_id", "stage", name="uq_refund_requests_order_stage"),)


# Campaigns


def create_campaign(actor: User, **fields) -> Campaign:
    actor.ensure_role("product", doing="run pre-sales")
    options = fields.pop("options")
    _check_terms(fields, options)
    campaign = Campaign(
        **fields, state="draft", reserved_quantity=0, paid_quantity=0, created_by=actor.id, created_at=clock.now()
    )
    db.session.add(campaign)
    db.session.flush()
    seeds = _poll_seeds(fields.get("poll_id"), options)
    for option in options:
        seed = seeds.get(option.get("poll_option_id"))
        db.session.add(
            CampaignOption(
                campaign_id=campaign.id,
                sku=option["sku"],
                name=option.get("name") or (seed.name if seed else option["sku"]),
                price_cents=option.get("price_cents"),
                stock_cap=option.get("stock_cap"),
                reserved_quantity=0,
                poll_option_id=seed.id if seed else None,
            )
        )
    db.session.flush()
    db.session.refresh(campaign)
    audit.record(actor, "presale.create", "presale", campaign.id)
    return campaign


def _check_terms(fields: dict, options: list[dict]) -> None:
    def refuse(field: str, rule: str, message: str) -> None:
        raise ValidationFailed(message, details={field: [rule]})

    if fields["closes_at"] <= fields["opens_at"]:
        refuse("closes_at", "after opens_at", "the campaign closes before it opens")
    if fields.get("early_access_at") and fields["early_access_at"] >= fields["opens_at"]:
        refuse("early_access_at", "before opens_at", "early access starts before opening")
    prices = [option.get("price_cents") or fields["unit_price_cents"] for option in options]
    if fields.get("deposit_cents"):
        if fields["deposit_cents"] >= min(prices):
            refuse("deposit_cents", "< every option's price", "the deposit must be less than the price")
        if not fields.get("balance_due_at"):
            refuse("balance_due_at", "required with a deposit", "a deposit campaign needs a balance deadline")
        if fields["balance_due_at"] <= fields["closes_at"] + timedelta(hours=24):
            refuse("balance_due_at", "≥ 24 h after closes_at", "members need at least a day to pay the balance")
    elif fields.get("balance_due_at"):
        refuse("balance_due_at", "only with deposit_cents", "a balance deadline needs a deposit")
    if len({option["sku"] for option in options}) != len(options):
        refuse("options", "unique SKUs", "each option needs its own SKU")
    if fields.get("idea_id"):
        idea = get_idea(fields["idea_id"])
        if idea.status != "approved":
            raise Conflict("only approved ideas go to pre-sale", code="idea_not_approved")
    if fields.get("poll_id"):
        poll = get_poll(fields["poll_id"])
        if fields.get("idea_id") and poll.idea_id not in (None, fields["idea_id"]):
            refuse("poll_id", "a poll of the same idea", "the poll is about another idea")


def _poll_seeds(poll_id: int | None, options: list[dict]) -> dict[int, PollOption]:
    """Options may start from a closed poll's samples (typically the winner), taking their name."""
    wanted = {option["poll_option_id"] for option in options if option.get("poll_option_id")}
    if not wanted:
        return {}
    if poll_id is None:
        raise ValidationFailed("name the poll the samples come from", details={"poll_id": ["required"]})
    poll = get_poll(poll_id)
    if poll.is_open(clock.now()):
        raise Conflict("the poll is still open", code="poll_open")
    samples = {sample.id: sample for sample in poll.options}
    if not wanted <= samples.keys():
        raise ValidationFailed("not a sample of this poll", details={"options": ["poll_option_id of poll_id"]})
    return samples


def get_campaign(campaign_id: int, viewer: User | None = None) -> Campaign:
    staff = viewer is not None and viewer.has_role("product")
    return get_or_404(Campaign, campaign_id, "presale", visible=lambda campaign: staff or campaign.state != "draft")


def list_campaigns(viewer: User | None, idea_id: int) -> list[Campaign]:
    """An idea's pre-sales the viewer may see, newest first (an idea's page shows them all)."""
    return list(db.session.scalars(_campaigns(viewer, idea_id).order_by(Campaign.id.desc())))


def campaigns_page(viewer: User | None, idea_id: int | None, limit: int, cursor: str | None) -> Page[Campaign]:
    """The pre-sales the viewer may see (drafts only for product staff), or one idea's, newest first."""
    return keyset_page(_campaigns(viewer, idea_id), [Campaign.id], limit, cursor)


def _campaigns(viewer: User | None, idea_id: int | None) -> Select[Campaign]:
    query = select(Campaign)
    if not (viewer and viewer.has_role("product")):
        query = query.where(Campaign.state != "draft")
    if idea_id is not None:
        query = query.where(Campaign.idea_id == idea_id)
    return query


def creator_credits(campaigns: list[Campaign]) -> dict[int, dict[str, Any] | None]:
    """By campaign, the member whose idea became the product, credited on the campaign page (None without an idea):
    the campaigns' ideas, with their creators, in one query."""
    found = ideas_by_id(sorted({c.idea_id for c in campaigns if c.idea_id is not None}))
    credits: dict[int, dict[str, Any] | None] = {}
    for campaign in campaigns:
        idea = found.get(campaign.idea_id) if campaign.idea_id is not None else None
        credits[campaign.id] = (
            None
            if idea is None
            else {
                "user_id": idea.creator.id,
                "display_name": idea.creator.display_name,
                "idea_id": idea.id,
                "idea_title": idea.title,
            }
        )
    return credits


def publish(actor: User, campaign_id: int) -> Campaign:
    actor.ensure_role("product", doing="run pre-sales")
    campaign = get_campaign(campaign_id, actor)
    _move_campaign(campaign, ("draft",), "published")
    outbox.emit(
        events.PRESALE_PUBLISHED,
        actor_id=actor.id,
        subject=("presale", campaign.id),
        payload={"idea_id": campaign.idea_id, "poll_id": campaign.poll_id, "title": campaign.title},
    )
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
    if to == "in_production":
        db.session.execute(
            update(Order)
            .where(Order.campaign_id == campaign.id, Order.status == "confirmed", Order.shipment_status == "")
            .values(shipment_status="in_production", updated_at=clock.now())
        )
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
    member: User,
    campaign_id: int,
    option_id: int,
    quantity: int,
    key: str,
    region: str,
    now: datetime,
    address_id: int | None = None,
) -> tuple[Order, bool]:
    prior = _order_by_key(member.id, key)
    if prior is not None:
        return prior, False
    phones.ensure_bound(member, "order")  # a muted member may still buy; a phone may be required
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
    option = next((o for o in campaign.options if o.id == option_id), None)
    if option is None:
        raise ValidationFailed("not an option of this pre-sale", details={"option_id": ["unknown option"]})
    ship_to = address_snapshot(member, address_id) if address_id is not None else None
    expire_unpaid(now, campaign_id=campaign.id)  # give back stalled units before deciding there are none
    # Sold out as just read (with the units given back above): most of a rush hears this, so it is answered before
    # any lock is taken. A unit given back a moment later is found by the next try; the conditional reservations
    # below still decide every order under the rows' locks, so this never lets one more through.
    if not _in_stock(campaign.reserved_quantity, campaign.stock_cap, quantity):
        raise _sold_out()
    if not _in_stock(option.reserved_quantity, option.stock_cap, quantity):
        raise _sold_out(option)
    # The member's row serialises their own orders, so the per-member limit holds under double taps.
    # FOR NO KEY UPDATE: rows this request already wrote that refer to the member (its idempotency record) hold a
    # key-share lock on it, which FOR UPDATE would wait on, deadlocking two taps that both wrote one.
    db.session.execute(select(User.id).where(User.id == member.id).with_for_update(key_share=True))
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
        raise _sold_out()
    reserve_option = update(CampaignOption).where(CampaignOption.id == option.id)
    if option.stock_cap is not None:
        reserve_option = reserve_option.where(CampaignOption.reserved_quantity + quantity <= option.stock_cap)
    if rows_changed(reserve_option.values(reserved_quantity=CampaignOption.reserved_quantity + quantity)) != 1:
        # The campaign's units were taken in this transaction; refusing rolls them back with it.
        raise _sold_out(option)
    price = option.price(campaign)
    deposit = campaign.deposit_cents or 0
    order = Order(
        campaign_id=campaign.id,
        user_id=member.id,
        option_id=option_id,
        quantity=quantity,
        unit_price_cents=price,
        amount_cents=(deposit or price) * quantity,
        balance_cents=(price - deposit) * quantity if deposit else 0,
        currency=campaign.currency,
        region=(region or (ship_to or {}).get("province") or member.region or "").strip()[:64],
        ship_to=ship_to,
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


def _in_stock(reserved: int, cap: int | None, quantity: int) -> bool:
    return cap is None or reserved + quantity <= cap


def _sold_out(option: CampaignOption | None = None) -> Conflict:
    if option is None:
        return Conflict("sold out", code="sold_out")
    return Conflict("this option is sold out", code="sold_out", details={"option_id": option.id})


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
    db.session.execute(
        update(CampaignOption)
        .where(CampaignOption.id == order.option_id)
        .values(reserved_quantity=CampaignOption.reserved_quantity - order.quantity)
    )


def request_refund(order: Order, reason: str, stage: str = "first") -> RefundRequest:
    """Owe one charge back; asking twice for the same charge returns the first request."""
    existing = db.session.scalar(
        select(RefundRequest).where(RefundRequest.order_id == order.id, RefundRequest.stage == stage)
    )
    if existing is not None:
        return existing
    now = clock.now()
    refund = RefundRequest(
        order_id=order.id,
        stage=stage,
        amount_cents=order.charge(stage),
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
    elif move_order(order, ("paid", "deposit_paid"), "refund_pending"):
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
    """At close: paid units ≥ MOQ → succeeded and orders confirmed; too few → failed and refunds. A deposit
    campaign counts its MOQ on deposits and, when met, opens the balance window instead; at the balance deadline it
    succeeds with the orders paid in full, and unpaid balances follow the campaign's deposit policy.

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
    if campaign.state in FINAL_CAMPAIGN_STATES:
        return campaign
    if campaign.state == "balance_due":
        assert campaign.balance_due_at is not None
        if now < campaign.balance_due_at:
            raise Conflict(
                "the balance window is still open",
                code="balance_window_open",
                details={"balance_due_at": campaign.balance_due_at.isoformat()},
            )
        return _finish(campaign, True, now, actor)
    if campaign.status(now) != "closed":
        raise Conflict(
            "the pre-sale has not closed yet", code="presale_not_closed", details={"status": campaign.status(now)}
        )
    expire_unpaid(now, campaign_id=campaign.id)
    db.session.refresh(campaign)
    met = campaign.paid_quantity >= campaign.moq
    if met and campaign.deposit_cents:
        if not move(campaign, "balance_due", sources=("published",), column="state"):
            return campaign  # a concurrent settlement got there first and did the rest
        _end_unpaid(campaign)
        outbox.emit(
            events.PRESALE_BALANCE_DUE,
            actor_id=actor.id if actor else None,
            subject=("presale", campaign.id),
            payload={"title": campaign.title, "balance_due_at": _iso(campaign.balance_due_at)},
        )
        return campaign
    return _finish(campaign, met, now, actor)


def _finish(campaign: Campaign, succeeded: bool, now: datetime, actor: User | None) -> Campaign:
    source = "balance_due" if campaign.state == "balance_due" else "published"
    if not move(campaign, "succeeded" if succeeded else "failed", sources=(source,), column="state", settled_at=now):
        return campaign  # a concurrent settlement got there first and did the rest
    for order in _orders_of(campaign.id, ("paid", "deposit_paid")):
        _close_order(order, succeeded, keep_deposit=campaign.deposit_policy == "forfeit")
    _end_unpaid(campaign)
    if succeeded and campaign.idea_id:
        _recognise_creator(campaign, now)
    db.session.refresh(campaign)
    outbox.emit(
        events.PRESALE_SETTLED,
        actor_id=actor.id if actor else None,
        subject=("presale", campaign.id),
        payload={
            "succeeded": succeeded,
            "paid_quantity": campaign.paid_quantity,
            "moq": campaign.moq,
            "title": campaign.title,
            "idea_id": campaign.idea_id,
        },
    )
    return campaign


def _close_order(order: Order, succeeded: bool, keep_deposit: bool) -> None:
    """Confirm, forfeit or refund one order by its state now. A balance may land while this runs: a move that
    loses to it refreshes the order, and the decision is taken again on the state that won."""
    while order.status in ("paid", "deposit_paid"):
        current = order.status
        if succeeded and current == "paid":
            if move_order(order, ("paid",), "confirmed"):
                return
        elif succeeded and keep_deposit:
            if move_order(order, ("deposit_paid",), "forfeited"):
                _release(order, was_paid=True)
                return
        elif move_order(order, (current,), "refund_pending"):
            _release(order, was_paid=True)
            request_refund(order, "balance_unpaid" if succeeded else "campaign_failed")
            if order.balance_paid_at is not None:
                request_refund(order, "campaign_failed", stage="balance")
            return


def _recognise_creator(campaign: Campaign, now: datetime) -> None:
    """The creator's free units are a zero-price confirmed order (so they are on the manifest and ship like any
    other); its fixed key makes it once per campaign."""
    assert campaign.idea_id is not None
    creator_id = get_idea(campaign.idea_id).creator_id
    if campaign.creator_free_units:
        address = db.session.scalar(
            select(Address).where(Address.user_id == creator_id).order_by(Address.is_default.desc(), Address.id)
        )
        db.session.add(
            Order(
                campaign_id=campaign.id,
                user_id=creator_id,
                option_id=campaign.options[0].id,
                quantity=campaign.creator_free_units,
                unit_price_cents=0,
                amount_cents=0,
                balance_cents=0,
                currency=campaign.currency,
                region=address.province if address else "",
                ship_to=address.as_dict() if address else None,
                status="confirmed",
                idempotency_key=f"creator-reward-{campaign.id}",
                expires_at=now,
                paid_at=now,
                payment_ref="creator_reward",
                created_at=now,
                updated_at=now,
            )
        )
        db.session.flush()
    outbox.emit(
        events.IDEA_PRODUCED,
        subject=("presale", campaign.id),
        payload={"creator_id": creator_id, "idea_id": campaign.idea_id, "free_units": campaign.creator_free_units},
    )


def _orders_of(campaign_id: int, statuses: tuple[str, ...]) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order).where(Order.campaign_id == campaign_id, Order.status.in_(statuses)).order_by(Order.id)
        )
    )


def _end_unpaid(campaign: Campaign) -> None:
    for order in _orders_of(campaign.id, ("pending_payment",)):
        if move_order(order, ("pending_payment",), "cancelled"):
            _release(order, was_paid=False)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def settle_due(now: datetime) -> int:
    due = db.session.scalars(
        select(Campaign.id).where(
            ((Campaign.state == "published") & (Campaign.closes_at <= now))
            | ((Campaign.state == "balance_due") & (Campaign.balance_due_at <= now))
        )
    ).all()
    for campaign_id in due:
        with transaction():  # one campaign per transaction: a failure leaves the others settled
            settle(campaign_id, now)
    return len(due)


BALANCE_REMINDER = timedelta(hours=24)


def remind_balance_due(now: datetime) -> int:
    """24 hours before the balance deadline, members who paid only the deposit are reminded (once)."""
    due = db.session.scalars(
        select(Campaign.id).where(
            Campaign.state == "balance_due",
            Campaign.balance_reminded_at.is_(None),
            Campaign.balance_due_at <= now + BALANCE_REMINDER,
            Campaign.balance_due_at > now,
        )
    ).all()
    reminded = 0
    for campaign_id in due:
        with transaction():
            marked = update(Campaign).where(Campaign.id == campaign_id, Campaign.balance_reminded_at.is_(None))
            if rows_changed(marked.values(balance_reminded_at=now)) != 1:
                continue  # another run reminded them
            campaign = db.session.get_one(Campaign, campaign_id)
            outbox.emit(
                events.PRESALE_BALANCE_REMINDER,
                subject=("presale", campaign.id),
                payload={"title": campaign.title, "balance_due_at": _iso(campaign.balance_due_at)},
            )
            reminded += 1
    return reminded
