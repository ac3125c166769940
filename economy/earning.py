"""Earning rules (data, operator-editable) applied to contribution events from the outbox.

A rule maps an event type to points and contribution, with optional daily and lifetime caps. Each award is a
ledger transaction whose idempotency key names what earned it — the event, or for likes and applause the
(giver, target) pair — so retries never pay twice and like/unlike/like cannot farm points.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Boolean, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from economy import ledger
from economy.ledger import Account, LedgerTransaction, Source
from economy.levels import sync_level
from forum.members import User
from kernel import audit, clock, outbox
from kernel.db import UTCDateTime, db
from kernel.errors import NotFound
from kernel.outbox import Event

# Who benefits from each contribution event, and what makes an award unique.
BENEFICIARY = {
    "post_published": lambda e: e.actor_id,
    "reply_created": lambda e: e.actor_id,
    "like_received": lambda e: e.payload.get("recipient_id"),
    "applause_received": lambda e: e.payload.get("recipient_id"),
    "post_featured": lambda e: e.payload.get("author_id"),
    "idea_milestone_reached": lambda e: e.payload.get("creator_id"),
    "idea_approved": lambda e: e.payload.get("creator_id"),
    "campaign_checkin": lambda e: e.actor_id,
    "share_approved": lambda e: e.payload.get("member_id"),
    "campaign_completed": lambda e: e.actor_id,  # no points rule by default; counted for badges
}


def award_key(event: Event) -> str:
    if event.type in ("like_received", "applause_received"):
        return f"rule:{event.type}:{event.subject_type}:{event.subject_id}:by:{event.actor_id}"
    if event.type == "post_featured":
        return f"rule:post_featured:{event.subject_id}"
    return f"rule:{event.type}:event:{event.id}"


class EarningRule(db.Model):
    __tablename__ = "earning_rules"

    event_type: Mapped[str] = mapped_column(String(48), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    contribution: Mapped[int] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    lifetime_cap: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def community_day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the community day (COMMUNITY_TZ) that contains `moment`."""
    tz = ZoneInfo(current_app.config["COMMUNITY_TZ"])
    local = moment.astimezone(tz)
    start = datetime.combine(local.date(), time.min, tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(days=1)).astimezone(ZoneInfo("UTC"))


def awards_count(user_id: int, reason_code: str, since: datetime | None = None, until: datetime | None = None) -> int:
    query = select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.beneficiary_id == user_id,
        LedgerTransaction.reason_code == reason_code,
        LedgerTransaction.reverses_id.is_(None),
    )
    if since is not None:
        query = query.where(LedgerTransaction.created_at >= since, LedgerTransaction.created_at < until)
    return db.session.scalar(query)


def get_rule(event_type: str) -> EarningRule:
    rule = db.session.get(EarningRule, event_type)
    if rule is None:
        raise NotFound("no such earning rule", code="rule_not_found")
    return rule


def apply_rule(
    rule: EarningRule,
    user_id: int,
    key: str,
    *,
    subject: tuple[str, int] | None,
    at: datetime,
    bonus_points: int = 0,
    memo: str = "",
) -> LedgerTransaction | None:
    """Pay a rule once per key, within its caps. The member's account row is locked so caps hold under races."""
    if not rule.enabled:
        return None
    if ledger.existing(key) is not None:
        return None
    ledger.member_account(user_id, lock=True)
    if rule.daily_cap is not None:
        start, end = community_day_bounds(at)
        if awards_count(user_id, rule.event_type, start, end) >= rule.daily_cap:
            return None
    if rule.lifetime_cap is not None and awards_count(user_id, rule.event_type) >= rule.lifetime_cap:
        return None
    transaction, created = ledger.credit(
        user_id,
        points=rule.points + bonus_points,
        contribution=rule.contribution,
        source=Source.RULE,
        key=key,
        memo=memo or rule.description,
        subject=subject,
        reason_code=rule.event_type,
    )
    if created:
        refresh_level(user_id)
    return transaction if created else None


def refresh_level(user_id: int) -> None:
    account = db.session.scalar(
        select(Account).where(Account.user_id == user_id).execution_options(populate_existing=True)
    )
    sync_level(user_id, account.contribution)


@outbox.subscribe(*BENEFICIARY, name="economy.award")
def award_for_event(event: Event) -> None:
    rule = db.session.get(EarningRule, event.type)
    user_id = BENEFICIARY[event.type](event)
    if rule is None or not user_id or db.session.get(User, user_id) is None:
        return
    subject = (event.subject_type, event.subject_id) if event.subject_type else None
    apply_rule(rule, user_id, award_key(event), subject=subject, at=event.created_at)


def list_rules() -> list[EarningRule]:
    return list(db.session.scalars(select(EarningRule).order_by(EarningRule.event_type)))


def update_rule(actor: User, event_type: str, **changes) -> EarningRule:
    actor.ensure_role("operator", doing="change earning rules")
    rule = get_rule(event_type)
    for field in ("points", "contribution", "daily_cap", "lifetime_cap", "enabled", "description"):
        if field in changes:
            setattr(rule, field, changes[field])
    rule.updated_at = clock.now()
    db.session.flush()
    audit.record(actor, "economy.rule", "earning_rule", None, event_type=event_type, **changes)
    return rule
