"""Badges (勋章): a catalogue managed by operators, awarded by rules over members' activity or by staff.

A rule is data on the badge: a metric and a threshold. Live awarding reacts to events after the activity
counters move; the backfill walks existing members with the very same `metric_value`, so both always agree.
An award is a row keyed (badge, member, sequence): two events racing to award the same badge collide on that key
and only one award (and one reward) exists. Repeatable badges get one sequence per threshold reached.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    Row,
    Select,
    String,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from c2b.presale import early_access_rule
from economy import activity, events, ledger
from economy.checkin import CheckIn
from economy.earning import CONTRIBUTIONS
from economy.ledger import Source
from economy.levels import follow_credit
from forum.members import User, get_user
from forum.replies import Reply
from kernel import audit, clock, outbox
from kernel.catalogue import Catalogue
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, ValidationFailed
from kernel.outbox import Event
from kernel.progress import report as report_progress
from kernel.sql import column_rows, get_or_404, insert_or_none, json_rows, one_of, unique_or_refuse
from kernel.unit_of_work import transaction

TIERS = ("bronze", "silver", "gold")
# Metrics a rule may use: counted events (all time), the best check-in streak, and the level.
COUNTED_METRICS = tuple(event_type.name for event_type in (*CONTRIBUTIONS, events.CHECKED_IN))
METRICS = (*COUNTED_METRICS, "checkin_streak", "level")
SHOWCASE_SIZE = 3


class Badge(Model):
    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(300), default="")
    image_url: Mapped[str] = mapped_column(String(300), default="")
    tier: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(24), default="community")
    repeatable: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    rule_metric: Mapped[str | None] = mapped_column(String(32))
    rule_threshold: Mapped[int | None] = mapped_column(Integer)
    reward_points: Mapped[int] = mapped_column(Integer, default=0)
    reward_contribution: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def rule(self) -> tuple[str, int] | None:
        """(metric, threshold) for a badge awarded by rule; None for one given only by staff."""
        if self.rule_metric is None or self.rule_threshold is None:
            return None
        return self.rule_metric, self.rule_threshold


class BadgeAward(Model):
    __tablename__ = "badge_awards"

    id: Mapped[int] = mapped_column(primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    awarded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    awarded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str] = mapped_column(String(300), default="")

    badge: Mapped[Badge] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("badge_id", "user_id", "sequence", name="uq_badge_awards_once"),
        Index("ix_badge_awards_user", "user_id", "badge_id"),
    )


class ShowcaseSlot(Model):
    __tablename__ = "badge_showcase"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id", ondelete="CASCADE"))


@dataclass(frozen=True)
class BadgeRule:
    """A badge awarded by rule, as live awarding reads it: a snapshot, cached in-process (see kernel.catalogue)."""

    id: int
    slug: str
    name: str
    metric: str
    threshold: int
    repeatable: bool
    reward_points: int
    reward_contribution: int


def _load_rules() -> tuple[BadgeRule, ...]:
    query = select(Badge).where(Badge.enabled.is_(True)).order_by(Badge.id)
    return tuple(
        BadgeRule(
            badge.id,
            badge.slug,
            badge.name,
            badge.rule[0],
            badge.rule[1],
            badge.repeatable,
            badge.reward_points,
            badge.reward_contribution,
        )
        for badge in db.session.scalars(query)
        if badge.rule is not None
    )


RULES = Catalogue("badge_rules", _load_rules)


# Catalogue


def get_badge(badge_id: int) -> Badge:
    return get_or_404(Badge, badge_id, "badge")


def _check_rule(metric: str | None, threshold: int | None) -> None:
    if (metric is None) != (threshold is None):
        raise ValidationFailed(
            "a rule needs both a metric and a threshold", details={"rule_metric": ["set both or neither"]}
        )
    if metric is not None and metric not in METRICS:
        raise ValidationFailed("unknown metric", details={"rule_metric": [f"one of {', '.join(METRICS)}"]})


def create_badge(actor: User, **fields) -> Badge:
    actor.ensure_role("operator", doing="manage badges")
    _check_rule(fields.get("rule_metric"), fields.get("rule_threshold"))
    badge = Badge(
        created_at=clock.now(),
        description="",
        image_url="",
        category="community",
        repeatable=False,
        enabled=True,
        reward_points=0,
        reward_contribution=0,
    )
    for name, value in fields.items():
        setattr(badge, name, value)
    with unique_or_refuse(Conflict("a badge with this slug exists", code="slug_taken")):
        db.session.add(badge)
    RULES.changed()
    audit.record(actor, "badge.create", "badge", badge.id, slug=badge.slug)
    return badge


def update_badge(actor: User, badge_id: int, **fields) -> Badge:
    actor.ensure_role("operator", doing="manage badges")
    badge = get_badge(badge_id)
    _check_rule(fields.get("rule_metric", badge.rule_metric), fields.get("rule_threshold", badge.rule_threshold))
    for name, value in fields.items():
        setattr(badge, name, value)
    db.session.flush()
    RULES.changed()
    audit.record(actor, "badge.update", "badge", badge.id, **fields)
    return badge


def catalogue(include_disabled: bool = False) -> list[tuple[Badge, float]]:
    """Badges with rarity: the share of members holding each one."""
    members = db.session.scalar(select(func.count(User.id))) or 1
    holders = dict(
        db.session.execute(
            select(BadgeAward.badge_id, func.count(func.distinct(BadgeAward.user_id)))
            .where(BadgeAward.revoked_at.is_(None))
            .group_by(BadgeAward.badge_id)
        ).all()
    )
    query = select(Badge).order_by(Badge.category, Badge.id)
    if not include_disabled:
        query = query.where(Badge.enabled.is_(True))
    return [(b, round(holders.get(b.id, 0) / members, 4)) for b in db.session.scalars(query)]


# Rules


def metric_value(user_id: int, metric: str) -> int:
    if metric == "checkin_streak":
        best = select(func.coalesce(func.max(CheckIn.streak), 0)).where(CheckIn.user_id == user_id)
        return db.session.execute(best).scalar_one()
    if metric == "level":
        return db.session.scalar(select(User.level).where(User.id == user_id)) or 0
    return activity.count(user_id, metric, "all")


def _held(badge: Badge, user_id: int) -> int:
    return db.session.execute(
        select(func.count(BadgeAward.id)).where(BadgeAward.badge_id == badge.id, BadgeAward.user_id == user_id)
    ).scalar_one()


def due_sequences(badge: BadgeRule, user_id: int) -> list[int]:
    """Which award sequences the member has earned by rule but does not have yet."""
    value = metric_value(user_id, badge.metric)
    if value < badge.threshold:
        return []
    earned = value // badge.threshold if badge.repeatable else 1
    have = set(
        db.session.scalars(
            select(BadgeAward.sequence).where(BadgeAward.badge_id == badge.id, BadgeAward.user_id == user_id)
        )
    )
    return [seq for seq in range(1, earned + 1) if seq not in have]


def _award(badge: Badge | BadgeRule, user_id: int, sequence: int, *, by: User | None, reason: str) -> BadgeAward | None:
    """Insert one award; None when a twin got there first. Pays the badge's reward with the award."""
    award = insert_or_none(
        BadgeAward,
        {
            "badge_id": badge.id,
            "user_id": user_id,
            "sequence": sequence,
            "awarded_at": clock.now(),
            "awarded_by": by.id if by else None,
            "reason": reason,
            "revoke_reason": "",
        },
    )
    if award is None:
        return None
    if badge.reward_points or badge.reward_contribution:
        credited = ledger.credit(
            user_id,
            points=badge.reward_points,
            contribution=badge.reward_contribution,
            source=Source.BADGE,
            key=f"badge:{badge.id}:{user_id}:{sequence}",
            memo=badge.name,
            subject=("badge", badge.id),
            reason_code=f"badge:{badge.slug}",
        )
        follow_credit(user_id, credited, badge.reward_contribution)
    outbox.emit(
        events.BADGE_AWARDED,
        actor_id=by.id if by else None,
        subject=("badge", badge.id),
        payload={"user_id": user_id, "sequence": sequence},
    )
    return award


def evaluate(user_id: int, metric: str) -> list[BadgeAward]:
    awarded = []
    for badge in RULES.get():
        if badge.metric != metric:
            continue
        for sequence in due_sequences(badge, user_id):
            award = _award(badge, user_id, sequence, by=None, reason="rule")
            if award is not None:
                awarded.append(award)
    return awarded


BACKFILL_BATCH = 500


def _metric_values(metric: str) -> dict[int, int]:
    """Every member's value of a metric in one query (members without one have 0): `metric_value`, set-based."""
    if metric == "checkin_streak":
        query = select(CheckIn.user_id, func.max(CheckIn.streak)).group_by(CheckIn.user_id)
    elif metric == "level":
        query = select(User.id, User.level)
    else:
        query = select(activity.ActivityCounter.user_id, activity.ActivityCounter.count).where(
            activity.ActivityCounter.metric == metric, activity.ActivityCounter.period == "all"
        )
    return {user_id: value or 0 for user_id, value in db.session.execute(query)}


def _backfill_due(badge: BadgeRule) -> list[tuple[int, list[int]]]:
    """(member, sequences) the badge owes by rule, from two queries for the whole community."""
    held: dict[int, set[int]] = {}
    for user_id, sequence in db.session.execute(
        select(BadgeAward.user_id, BadgeAward.sequence).where(BadgeAward.badge_id == badge.id)
    ):
        held.setdefault(user_id, set()).add(sequence)
    due = []
    for user_id, value in sorted(_metric_values(badge.metric).items()):
        if value < badge.threshold:
            continue
        earned = value // badge.threshold if badge.repeatable else 1
        missing = [seq for seq in range(1, earned + 1) if seq not in held.get(user_id, set())]
        if missing:
            due.append((user_id, missing))
    return due


def backfill() -> int:
    """Award every badge existing members already qualify for, by the same rule as live awarding: each badge's
    metric is read for the whole community at once, and the awards it owes are made in batches, with progress."""
    count = 0
    with transaction():
        rules = _load_rules()  # from the database, not this process's copy: a backfill follows a change
    for badge in rules:
        with transaction():
            due = _backfill_due(badge)
        report_progress(f"badge {badge.slug}", 0, len(due))
        for start in range(0, len(due), BACKFILL_BATCH):
            with transaction():
                for user_id, sequences in due[start : start + BACKFILL_BATCH]:
                    for sequence in sequences:
                        count += _award(badge, user_id, sequence, by=None, reason="backfill") is not None
            report_progress(f"badge {badge.slug}", min(start + BACKFILL_BATCH, len(due)), len(due))
    return count


@outbox.subscribe(events.ACTIVITY_COUNTED, name="economy.badges.activity")
def _on_activity(event: Event) -> None:
    evaluate(event.payload["user_id"], event.payload["metric"])


@outbox.subscribe(events.CHECKED_IN, name="economy.badges.streak")
def _on_checkin(event: Event) -> None:
    evaluate(event.subject[1], "checkin_streak")


@outbox.subscribe(events.LEVEL_REACHED, name="economy.badges.level")
def _on_level(event: Event) -> None:
    evaluate(event.subject[1], "level")


def metrics_with_rules() -> set[str]:
    return {badge.metric for badge in RULES.get()}


# Staff


def award_manually(actor: User, badge_id: int, user_id: int, reason: str) -> BadgeAward:
    badge = get_badge(badge_id)
    target = get_user(user_id)
    if not reason.strip():
        raise ValidationFailed("a reason is required", details={"reason": ["required"]})
    held = db.session.scalar(
        select(BadgeAward).where(
            BadgeAward.badge_id == badge.id, BadgeAward.user_id == target.id, BadgeAward.revoked_at.is_(None)
        )
    )
    if held is not None and not badge.repeatable:
        raise Conflict("the member already holds this badge", code="badge_held")
    award = _award(badge, target.id, _held(badge, target.id) + 1, by=actor, reason=reason.strip())
    if award is None:
        raise Conflict("awarded concurrently, try again", code="badge_race")
    audit.record(actor, "badge.award", "user", target.id, reason.strip(), badge=badge.slug, award_id=award.id)
    return award


def revoke(actor: User, award_id: int, reason: str) -> BadgeAward:
    award = get_or_404(BadgeAward, award_id, "award")
    if not reason.strip():
        raise ValidationFailed("a reason is required", details={"reason": ["required"]})
    if award.revoked_at is None:
        award.revoked_at, award.revoke_reason = clock.now(), reason.strip()
        db.session.execute(
            delete(ShowcaseSlot).where(ShowcaseSlot.user_id == award.user_id, ShowcaseSlot.badge_id == award.badge_id)
        )
        audit.record(
            actor, "badge.revoke", "user", award.user_id, reason.strip(), badge=award.badge.slug, award_id=award.id
        )
    return award


# Members


def earned(user_id: int) -> list[BadgeAward]:
    return list(
        db.session.scalars(
            select(BadgeAward)
            .where(BadgeAward.user_id == user_id, BadgeAward.revoked_at.is_(None))
            .order_by(BadgeAward.awarded_at.desc(), BadgeAward.id.desc())
        )
    )


def progress(user_id: int) -> list[dict]:
    """For each enabled rule badge the member lacks: how far along they are."""
    held = {a.badge_id for a in earned(user_id)}
    rows = []
    for badge in db.session.scalars(select(Badge).where(Badge.enabled.is_(True), Badge.rule_metric.is_not(None))):
        if badge.rule is None or (badge.id in held and not badge.repeatable):
            continue
        metric, threshold = badge.rule
        value = metric_value(user_id, metric)
        target = threshold * ((value // threshold + 1) if badge.repeatable else 1)
        rows.append({"badge": badge, "metric": metric, "current": value, "target": target})
    return rows


def set_showcase(user: User, badge_ids: list[int]) -> list[Badge]:
    if len(badge_ids) > SHOWCASE_SIZE or len(set(badge_ids)) != len(badge_ids):
        raise ValidationFailed("pick up to three different badges", details={"badge_ids": ["at most 3, distinct"]})
    held = {a.badge_id for a in earned(user.id)}
    missing = [b for b in badge_ids if b not in held]
    if missing:
        raise ValidationFailed("you can only show badges you hold", details={"badge_ids": missing})
    db.session.execute(delete(ShowcaseSlot).where(ShowcaseSlot.user_id == user.id))
    for position, badge_id in enumerate(badge_ids):
        db.session.add(ShowcaseSlot(user_id=user.id, position=position, badge_id=badge_id))
    db.session.flush()
    return showcases([user.id])[user.id]


def _showcase_of(*columns: Any) -> Select:
    return (
        select(ShowcaseSlot.user_id, *columns)
        .join(Badge, Badge.id == ShowcaseSlot.badge_id)
        .where(one_of(ShowcaseSlot.user_id, "user_ids"), Badge.enabled.is_(True))
        .order_by(ShowcaseSlot.user_id, ShowcaseSlot.position)
    )


# Built once: every page of posts or floors asks for the pinned badges of its authors.
_SHOWCASES = _showcase_of(Badge)
_PINNED = _showcase_of(Badge.slug, Badge.name, Badge.tier, Badge.image_url)


def showcases(user_ids: list[int]) -> dict[int, list[Badge]]:
    """The pinned badges of several members at once, as badges."""
    return _per_member(user_ids, lambda: db.session.execute(_SHOWCASES, {"user_ids": user_ids}))


def pinned_badges(user_ids: list[int]) -> dict[int, list[Row[Any]]]:
    """What a page of posts or floors shows beside each author: the slug, name, tier and image of their pinned
    badges, read as plain rows (no entities to load on the hottest pages)."""
    return _per_member(user_ids, lambda: ((row.user_id, row) for row in column_rows(_PINNED, {"user_ids": user_ids})))


class PinnedBadge(NamedTuple):
    slug: str
    name: str
    tier: str
    image_url: str


def _pinned_of(member_id: Any) -> Any:
    """The pinned badges of the member whose id `member_id` (a column of the enclosing query) holds, as one JSON
    list: a page of posts or floors reads its authors' badges in its own statement. Read back with `pinned_from`."""
    return (
        select(json_rows(ShowcaseSlot.position, Badge.slug, Badge.name, Badge.tier, Badge.image_url))
        .select_from(ShowcaseSlot)
        .join(Badge, Badge.id == ShowcaseSlot.badge_id)
        .where(ShowcaseSlot.user_id == member_id, Badge.enabled.is_(True))
    ).scalar_subquery()


# Built once, for forum.feeds' and forum.replies' `beside_author`: a list joined to its authors' `users` rows, and
# a page of floors (over `replies.author_id`).
PINNED_OF_MEMBER = _pinned_of(User.id)
PINNED_OF_REPLY_AUTHOR = _pinned_of(Reply.author_id)


def pinned_from(value: list[list[Any]] | None) -> list[PinnedBadge]:
    """PINNED_OF_MEMBER's value as the member's pinned badges in slot order."""
    return [PinnedBadge(*badge) for _, *badge in sorted(value or ())]


def _per_member(user_ids: list[int], read: Callable[[], Iterable[tuple[int, Any]]]) -> dict[int, list[Any]]:
    """Each member's pinned items in slot order, from (member id, item) pairs; no read for no members."""
    found: dict[int, list[Any]] = {uid: [] for uid in user_ids}
    if user_ids:
        for uid, item in read():
            found[uid].append(item)
    return found


@early_access_rule("badge")
def holds_badge(member: User, slug: str) -> bool:
    """A pre-sale may open early to holders of a badge."""
    held = (
        select(BadgeAward.id)
        .join(Badge, Badge.id == BadgeAward.badge_id)
        .where(Badge.slug == slug, BadgeAward.user_id == member.id, BadgeAward.revoked_at.is_(None))
        .limit(1)
    )
    return db.session.scalar(held) is not None
