"""Segments: members matching every given filter (tags, tier, level, badges, idea support, orders).

The same filters are a campaign's audience: a flash group that only matching members can join.
"""

from typing import Any

from sqlalchemy import Select, select

from c2b.ideas import IdeaSupport
from c2b.presale import Order
from economy.badges import Badge, BadgeAward
from forum.members import User
from kernel.db import db
from kernel.pagination import Page, keyset_page
from operations.tags import MemberTag, clean
from operations.tiers import in_tier

FILTERS = ("tag", "tier", "min_level", "badge", "supported_idea", "ordered_presale")


def query(filters: dict[str, Any]) -> Select:
    statement = select(User).where(User.banned_at.is_(None))
    if filters.get("tag"):
        _, key = clean(filters["tag"])
        statement = statement.where(User.id.in_(select(MemberTag.user_id).where(MemberTag.tag_key == key)))
    if filters.get("tier"):
        statement = statement.where(in_tier(filters["tier"]))
    if filters.get("min_level"):
        statement = statement.where(User.level >= filters["min_level"])
    if filters.get("badge"):
        statement = statement.where(
            User.id.in_(
                select(BadgeAward.user_id)
                .join(Badge, Badge.id == BadgeAward.badge_id)
                .where(Badge.slug == filters["badge"], BadgeAward.revoked_at.is_(None))
            )
        )
    if filters.get("supported_idea"):
        statement = statement.where(
            User.id.in_(select(IdeaSupport.user_id).where(IdeaSupport.idea_id == filters["supported_idea"]))
        )
    if filters.get("ordered_presale"):
        statement = statement.where(
            User.id.in_(
                select(Order.user_id).where(
                    Order.campaign_id == filters["ordered_presale"], Order.status.in_(("paid", "confirmed"))
                )
            )
        )
    return statement


def members(filters: dict[str, Any], limit: int, cursor: str | None) -> Page:
    return keyset_page(query(filters), [User.id], limit, cursor)


def matches(user: User, filters: dict[str, Any]) -> bool:
    if not any(filters.get(k) for k in FILTERS):
        return True
    return db.session.scalar(query(filters).where(User.id == user.id).with_only_columns(User.id)) is not None


def all_members(filters: dict[str, Any], cap: int = 100_000) -> list[User]:
    return list(db.session.scalars(query(filters).order_by(User.id).limit(cap)))
