"""Earning rules (data, operator-editable) applied to contribution events from the outbox.

A rule maps an event type to points and contribution, with optional daily and lifetime caps. Each award is a
ledger transaction whose idempotency key names what earned it — the event, or for likes and applause the
(giver, target) pair — so retries never pay twice and like/unlike/like cannot farm points.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from c2b import events as c2b_events
from economy import ledger
from economy.ledger import Account, LedgerTransaction, Source
from economy.levels import follow_credit, sync_level
from forum import events as forum_events
from forum.members import User
from kernel import audit, clock, outbox
from kernel.catalogue import Catalogue
from kernel.clock import community_day_bounds
from kernel.db import Model, UTCDateTime, db
from kernel.errors import NotFound
from kernel.events import named
from kernel.outbox import Event
from kernel.sql import get_or_404
from moderation import events as moderation_events
from operations import events as operations_events

# The contribution events an earning rule may pay for; each names its beneficiary in its package's catalogue.
# Money events (pre-sale orders, payments) are not among them and cannot be: points are never bought.
CONTRIBUTIONS = (
    forum_events.POST_PUBLISHED,
    forum_events.REPLY_CREATED,
    forum_events.LIKE_RECEIVED,
    forum_events.APPLAUSE_RECEIVED,
    moderation_events.POST_FEATURED,
    c2b_events.IDEA_MILESTONE_REACHED,
    c2b_events.IDEA_APPROVED,
    c2b_events.IDEA_PRODUCED,
    operations_events.CAMPAIGN_CHECKIN,
    operations_events.SHARE_APPROVED,
    operations_events.CAMPAIGN_COMPLETED,  # no points rule by default; counted for badges
)
# A like or applause pays once per member and target, however often it is toggled; featuring pays once per post.
ONCE_PER_TARGET = (forum_events.LIKE_RECEIVED.name, forum_events.APPLAUSE_RECEIVED.name)


def beneficiary(event: Event) -> int | None:
    return named(event.type).beneficiary_of(event)


def award_key(event: Event) -> str:
    if event.type in ONCE_PER_TARGET:
        return f"rule:{event.type}:{event.subject_type}:{event.subject_id}:by:{event.actor_id}"
    if event.type == moderation_events.POST_FEATURED.name:
        return f"rule:{event.type}:{event.subject_id}"
    return f"rule:{event.type}:event:{event.id}"


class EarningRule(Model):
    __tablename__ = "earning_rules"

    event_type: Mapped[str] = mapped_column(String(48), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    contribution: Mapped[int] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    lifetime_cap: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def awards_count(user_id: int, reason_code: str, since: datetime | None = None, until: datetime | None = None) -> int:
    query = select(func.count(LedgerTransaction.id)).where(
        LedgerTransaction.beneficiary_id == user_id,
        LedgerTransaction.reason_code == reason_code,
        LedgerTransaction.reverses_id.is_(None),
    )
    if since is not None:
        query = query.where(LedgerTransaction.created_at >= since, LedgerTransaction.created_at < until)
    return db.session.execute(query).scalar_one()


@dataclass(frozen=True)
class RuleTerms:
    """An earning rule as the hot paths read it: a snapshot, cached in-process (see kernel.catalogue)."""

    event_type: str
    points: int
    contribution: int
    daily_cap: int | None
    lifetime_cap: int | None
    enabled: bool
    description: str


def _load_rules() -> dict[str, RuleTerms]:
    return {
        rule.event_type: RuleTerms(
            rule.event_type,
            rule.points,
            rule.contribution,
            rule.daily_cap,
            rule.lifetime_cap,
            rule.enabled,
            rule.description,
        )
        for rule in db.session.scalars(select(EarningRule))
    }


RULES = Catalogue("earning_rules", _load_rules)


def rule_terms(event_type: str) -> RuleTerms | None:
    return RULES.get().get(event_type)


def get_rule(event_type: str) -> EarningRule:
    return get_or_404(EarningRule, event_type, "rule")


def terms_or_404(event_type: str) -> RuleTerms:
    terms = rule_terms(event_type)
    if terms is None:
        raise NotFound("no such rule", code="rule_not_found")
    return terms


def apply_rule(
    rule: RuleTerms,
    user_id: int,
    key: str,
    *,
    subject: tuple[str, int] | None,
    at: datetime,
    bonus_points: int = 0,
    memo: str = "",
    once_a_day: bool = False,
) -> ledger.Credited | None:
    """Pay a rule once per key, within its caps; the credit, or None when nothing was paid. A rule with caps to
    count locks the member's account first, so caps hold under races; a key already paid is found by the ledger's
    insert (no read first: the common case is a new key). `once_a_day`: the caller pays this rule at most once per
    member and community day (a check-in), so a daily cap of one or more cannot be reached and is not counted."""
    if not rule.enabled:
        return None
    daily_cap = None if once_a_day and rule.daily_cap is not None and rule.daily_cap >= 1 else rule.daily_cap
    if daily_cap is not None or rule.lifetime_cap is not None:
        ledger.member_account(user_id, lock=True)
    if daily_cap is not None:
        start, end = community_day_bounds(at)
        if awards_count(user_id, rule.event_type, start, end) >= daily_cap:
            return None
    if rule.lifetime_cap is not None and awards_count(user_id, rule.event_type) >= rule.lifetime_cap:
        return None
    credited = ledger.credit(
        user_id,
        points=rule.points + bonus_points,
        contribution=rule.contribution,
        source=Source.RULE,
        key=key,
        memo=memo or rule.description,
        subject=subject,
        reason_code=rule.event_type,
    )
    follow_credit(user_id, credited, rule.contribution)
    return credited if credited.created else None


def refresh_level(user_id: int) -> None:
    account = db.session.execute(
        select(Account).where(Account.user_id == user_id).execution_options(populate_existing=True)
    ).scalar_one()
    sync_level(user_id, account.contribution)


@outbox.subscribe(*CONTRIBUTIONS, name="economy.award")
def award_for_event(event: Event) -> None:
    rule = rule_terms(event.type)
    user_id = beneficiary(event)
    if rule is None or not user_id or db.session.get(User, user_id) is None:
        return
    subject = event.subject if event.subject_type else None
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
    RULES.changed()
    audit.record(actor, "economy.rule", "earning_rule", None, event_type=event_type, **changes)
    return rule
