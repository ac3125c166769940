"""Lotteries: an entry costs points; prizes (goods and perks, never points) come from a table with stock.

Draws are provably fair. When a lottery is created the server picks a secret seed and publishes its SHA-256
(the commitment). Each draw's random number is HMAC-SHA256(seed, "lottery:draw:member:nonce") and is stored with
the draw; once the lottery ends the seed is revealed, and anyone can recompute every draw and check the commitment.
"""

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from economy import ledger
from economy.ledger import Source
from forum.members import User
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, insert_if_absent, rows_changed

SCALE = 2**64


class Lottery(Model):
    __tablename__ = "lotteries"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    cost_points: Mapped[int] = mapped_column(Integer)
    # The published odds: each prize's weight, and this weight for drawing nothing.
    miss_weight: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seed: Mapped[str] = mapped_column(String(64))
    seed_commitment: Mapped[str] = mapped_column(String(64))
    draw_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    prizes: Mapped[list["Prize"]] = relationship(order_by="Prize.id", lazy="selectin")

    def seed_revealed(self, now: datetime) -> bool:
        return now >= self.ends_at


class Prize(Model):
    __tablename__ = "lottery_prizes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lottery_id: Mapped[int] = mapped_column(ForeignKey("lotteries.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    weight: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)


class Draw(Model):
    __tablename__ = "lottery_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    lottery_id: Mapped[int] = mapped_column(ForeignKey("lotteries.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(80))
    random_hex: Mapped[str] = mapped_column(String(64))
    prize_id: Mapped[int | None] = mapped_column(ForeignKey("lottery_prizes.id"))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    prize: Mapped[Prize | None] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("lottery_id", "user_id", "nonce", name="uq_lottery_draws_nonce"),
        Index("ix_lottery_draws_user", "user_id", "id"),
    )


def create_lottery(
    actor: User,
    name: str,
    cost_points: int,
    starts_at: datetime,
    ends_at: datetime,
    prizes: list[dict],
    miss_weight: int = 0,
) -> Lottery:
    actor.ensure_role("operator", doing="open lotteries")
    if ends_at <= starts_at:
        raise ValidationFailed("the lottery ends before it starts", details={"ends_at": ["after starts_at"]})
    seed = secrets.token_hex(32)
    lottery = Lottery(
        name=name,
        cost_points=cost_points,
        miss_weight=miss_weight,
        starts_at=starts_at,
        ends_at=ends_at,
        seed=seed,
        seed_commitment=hashlib.sha256(seed.encode()).hexdigest(),
        draw_count=0,
        created_at=clock.now(),
    )
    db.session.add(lottery)
    db.session.flush()
    for prize in prizes:
        db.session.add(Prize(lottery_id=lottery.id, **prize))
    db.session.flush()
    db.session.refresh(lottery)
    audit.record(actor, "lottery.create", "lottery", lottery.id, commitment=lottery.seed_commitment)
    return lottery


def list_lotteries(limit: int, cursor: str | None) -> Page[Lottery]:
    """Newest first."""
    return keyset_page(select(Lottery), [Lottery.id], limit, cursor)


def get_lottery(lottery_id: int) -> Lottery:
    return get_or_404(Lottery, lottery_id, "lottery")


def random_for(seed: str, lottery_id: int, user_id: int, nonce: str) -> str:
    return hmac.new(seed.encode(), f"{lottery_id}:draw:{user_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def pick(prizes: list[Prize], miss_weight: int, random_hex: str) -> Prize | None:
    """Weighted choice by the draw's random number; odds stay as published even as stock runs out."""
    total = sum(p.weight for p in prizes) + miss_weight
    if total <= 0:
        return None
    point = int(random_hex[:16], 16) * total // SCALE
    for prize in prizes:
        if point < prize.weight:
            return prize
        point -= prize.weight
    return None


def draw(user: User, lottery_id: int, nonce: str, now: datetime) -> tuple[Draw, bool]:
    """One paid draw per (member, nonce): the nonce is the Idempotency-Key, so a retry returns the same draw."""
    lottery = get_lottery(lottery_id)
    existing = db.session.scalar(
        select(Draw).where(Draw.lottery_id == lottery.id, Draw.user_id == user.id, Draw.nonce == nonce)
    )
    if existing is not None:
        return existing, False
    if not lottery.starts_at <= now < lottery.ends_at:
        raise Conflict("this lottery is not open", code="lottery_closed")
    transaction, created = ledger.debit(
        user.id,
        points=lottery.cost_points,
        to="lottery",
        source=Source.LOTTERY,
        key=f"lottery:{lottery.id}:{user.id}:{nonce}",
        memo=lottery.name,
        subject=("lottery", lottery.id),
        reason_code=f"lottery:{lottery.id}",
    )
    random_hex = random_for(lottery.seed, lottery.id, user.id, nonce)
    if not created:  # a twin request with the same key paid first; its draw is the answer
        return _draw(lottery.id, user.id, nonce), False
    prize = pick(lottery.prizes, lottery.miss_weight, random_hex)
    # Stock is taken with a conditional UPDATE; a prize that ran out becomes "no prize", never an oversell.
    if (
        prize is not None
        and rows_changed(update(Prize).where(Prize.id == prize.id, Prize.stock > 0).values(stock=Prize.stock - 1)) != 1
    ):
        prize = None
    insert_if_absent(
        Draw,
        {
            "lottery_id": lottery.id,
            "user_id": user.id,
            "nonce": nonce,
            "random_hex": random_hex,
            "prize_id": prize.id if prize else None,
            "transaction_id": transaction.id,
            "created_at": now,
        },
    )
    db.session.execute(update(Lottery).where(Lottery.id == lottery.id).values(draw_count=Lottery.draw_count + 1))
    return _draw(lottery.id, user.id, nonce), created


def _draw(lottery_id: int, user_id: int, nonce: str) -> Draw:
    query = select(Draw).where(Draw.lottery_id == lottery_id, Draw.user_id == user_id, Draw.nonce == nonce)
    return db.session.execute(query).scalar_one()
