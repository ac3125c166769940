"""The rewards mall: items priced in points, with stock, per-member limits and a sale window.

A redemption locks the member's account row (serialising that member's spending), takes stock with a
conditional UPDATE (never below zero), and debits points with a conditional UPDATE (never below zero), all in
one transaction: any refusal rolls back the others, so there is no oversell and no overspend.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from economy import ledger
from economy.ledger import Source
from forum.members import User
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, move, rows_changed

FULFILMENT = ("requested", "fulfilled", "cancelled")


class RewardItem(Model):
    __tablename__ = "reward_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    price_points: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    min_level: Mapped[int] = mapped_column(Integer, default=1)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Redemption(Model):
    __tablename__ = "redemptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("reward_items.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    points_spent: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="requested")
    idempotency_key: Mapped[str] = mapped_column(String(80))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    shipping_note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    item: Mapped[RewardItem] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_redemptions_user_key"),
        Index("ix_redemptions_user", "user_id", "id"),
        Index("ix_redemptions_item_user", "item_id", "user_id", "status"),
    )


def get_item(item_id: int) -> RewardItem:
    return get_or_404(RewardItem, item_id, "reward")


def list_items(now: datetime, limit: int, cursor: str | None) -> Page[RewardItem]:
    """What the mall offers now, cheapest first."""
    query = select(RewardItem).where(
        RewardItem.enabled.is_(True),
        (RewardItem.ends_at.is_(None)) | (RewardItem.ends_at > now),
    )
    return keyset_page(query, [RewardItem.price_points, RewardItem.id], limit, cursor, descending=False)


def create_item(actor: User, **fields) -> RewardItem:
    actor.ensure_role("operator", doing="manage the mall")
    if fields.get("starts_at") and fields.get("ends_at") and fields["ends_at"] <= fields["starts_at"]:
        raise ValidationFailed("the window ends before it starts", details={"ends_at": ["after starts_at"]})
    item = RewardItem(created_at=clock.now(), description="", min_level=1, enabled=True)
    for name, value in fields.items():
        setattr(item, name, value)
    db.session.add(item)
    db.session.flush()
    audit.record(actor, "mall.create", "reward", item.id, name=item.name)
    return item


def update_item(actor: User, item_id: int, **fields) -> RewardItem:
    actor.ensure_role("operator", doing="manage the mall")
    item = get_item(item_id)
    for name, value in fields.items():
        setattr(item, name, value)
    db.session.flush()
    changes = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in fields.items()}
    audit.record(actor, "mall.update", "reward", item.id, **changes)
    return item


def _by_key(user_id: int, key: str) -> Redemption | None:
    return db.session.scalar(select(Redemption).where(Redemption.user_id == user_id, Redemption.idempotency_key == key))


def redeem(user: User, item_id: int, quantity: int, key: str, now: datetime) -> tuple[Redemption, bool]:
    """Returns (redemption, created). The same key from the same member returns the first result."""
    prior = _by_key(user.id, key)
    if prior is not None:
        return prior, False
    ledger.member_account(user.id, lock=True)
    prior = _by_key(user.id, key)  # a twin request may have finished while we waited for the lock
    if prior is not None:
        return prior, False
    item = get_item(item_id)
    if not item.enabled or (item.starts_at and now < item.starts_at) or (item.ends_at and now >= item.ends_at):
        raise Conflict("this reward is not available now", code="reward_unavailable")
    if user.level < item.min_level:
        raise Forbidden(
            "your level is too low for this reward", code="level_too_low", details={"min_level": item.min_level}
        )
    if item.per_member_limit is not None:
        taken = db.session.execute(
            select(func.coalesce(func.sum(Redemption.quantity), 0)).where(
                Redemption.user_id == user.id, Redemption.item_id == item.id, Redemption.status != "cancelled"
            )
        ).scalar_one()
        if taken + quantity > item.per_member_limit:
            raise Conflict(
                "you have reached this reward's limit",
                code="redemption_limit",
                details={"limit": item.per_member_limit, "already": taken},
            )
    if item.stock is not None:
        took = rows_changed(
            update(RewardItem)
            .where(RewardItem.id == item.id, RewardItem.stock >= quantity)
            .values(stock=RewardItem.stock - quantity)
        )
        if took != 1:
            raise Conflict("out of stock", code="out_of_stock")
    cost = item.price_points * quantity
    transaction, _ = ledger.debit(
        user.id,
        points=cost,
        to="mall",
        source=Source.MALL,
        key=f"mall:{user.id}:{key}",
        memo=item.name,
        subject=("reward", item.id),
        reason_code=f"reward:{item.id}",
    )
    redemption = Redemption(
        user_id=user.id,
        item_id=item.id,
        quantity=quantity,
        points_spent=cost,
        status="requested",
        idempotency_key=key,
        transaction_id=transaction.id,
        shipping_note="",
        created_at=now,
        updated_at=now,
    )
    db.session.add(redemption)
    try:
        db.session.flush()
    except IntegrityError as exc:  # only reachable without row locks (SQLite): the twin won
        db.session.rollback()
        raise Conflict("this request is already being processed", code="idempotency_conflict") from exc
    return redemption, True


def my_redemptions(user: User, limit: int, cursor: str | None) -> Page:
    return keyset_page(select(Redemption).where(Redemption.user_id == user.id), [Redemption.id], limit, cursor)


def set_fulfilment(actor: User, redemption_id: int, status: str, note: str = "") -> Redemption:
    """Staff mark a redemption fulfilled, or cancel it: points are refunded and stock returned, once."""
    actor.ensure_role("operator", doing="fulfil redemptions")
    redemption = get_or_404(Redemption, redemption_id, "redemption")
    if redemption.status == status:
        return redemption
    if redemption.status != "requested":
        raise Conflict(f"a {redemption.status} redemption cannot change", code="redemption_closed")
    moved = move(redemption, status, sources=("requested",), shipping_note=note, updated_at=clock.now())
    if moved and status == "cancelled":
        # The points go back from the mall account they were paid into.
        member, mall = ledger.member_account(redemption.user_id), ledger.system_account_id("mall")
        ledger.post(
            Source.REFUND,
            f"refund:redemption:{redemption.id}",
            [
                ledger.Leg(member.id, "points", redemption.points_spent),
                ledger.Leg(mall, "points", -redemption.points_spent),
            ],
            memo="redemption cancelled",
            subject=("reward", redemption.item_id),
            beneficiary_id=redemption.user_id,
            reason_code="refund",
        )
        db.session.execute(
            update(RewardItem)
            .where(RewardItem.id == redemption.item_id, RewardItem.stock.is_not(None))
            .values(stock=RewardItem.stock + redemption.quantity)
        )
    if moved:
        audit.record(actor, f"mall.{status}", "redemption", redemption.id, note)
    db.session.refresh(redemption)
    return redemption
