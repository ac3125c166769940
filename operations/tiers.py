"""Activity tiers, recomputed by a job from the event log over a sliding window. Visible to operators only."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, ForeignKey, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from c2b import events as c2b_events
from economy import events as economy_events
from forum import events as forum_events
from forum.members import User
from kernel.db import Model, UTCDateTime, db
from kernel.outbox import Event
from operations import events

TIERS = ("inactive", "occasional", "regular", "highly_active")
# What counts as activity: things a member does, not things done to them.
ACTIVE_EVENTS = tuple(
    event_type.name
    for event_type in (
        forum_events.POST_PUBLISHED,
        forum_events.REPLY_CREATED,
        economy_events.CHECKED_IN,
        c2b_events.IDEA_PUBLISHED,
        c2b_events.IDEA_SUPPORTED,
        events.CAMPAIGN_CHECKIN,
    )
)


class MemberTier(Model):
    __tablename__ = "member_tiers"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(16), index=True)
    score: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def tier_for(score: int) -> str:
    thresholds = current_app.config["TIER_THRESHOLDS"]
    tier = "inactive"
    for name in TIERS[1:]:
        if score >= thresholds[name]:
            tier = name
    return tier


def recompute(now: datetime) -> dict[str, int]:
    """Score every member by their activity events in the window and store their tier; returns tier sizes."""
    since = now - timedelta(days=current_app.config["TIER_WINDOW_DAYS"])
    scores = dict(
        db.session.execute(
            select(Event.actor_id, func.count(Event.id))
            .where(Event.type.in_(ACTIVE_EVENTS), Event.created_at >= since, Event.actor_id.is_not(None))
            .group_by(Event.actor_id)
        ).all()
    )
    db.session.execute(delete(MemberTier))
    sizes = dict.fromkeys(TIERS, 0)
    for user_id in db.session.scalars(select(User.id)):
        score = scores.get(user_id, 0)
        tier = tier_for(score)
        sizes[tier] += 1
        db.session.add(MemberTier(user_id=user_id, tier=tier, score=score, computed_at=now))
    db.session.flush()
    return sizes


def tier_of(user_id: int) -> MemberTier | None:
    return db.session.get(MemberTier, user_id)


def in_tier(tier: str) -> ColumnElement[bool]:
    """Members in a tier, by the same rule as a member's own tier: no row yet (new since the last run) is inactive."""
    if tier == "inactive":
        return User.id.not_in(select(MemberTier.user_id).where(MemberTier.tier != "inactive"))
    return User.id.in_(select(MemberTier.user_id).where(MemberTier.tier == tier))
