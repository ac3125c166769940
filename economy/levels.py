"""Levels come from the contribution score (never from spendable points), with the privileges each unlocks."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import inspect, select, update

from c2b import ideas
from economy import events, ledger
from forum.members import User
from kernel import clock, outbox
from kernel.db import db
from kernel.outbox import Event


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    threshold: int
    privileges: tuple[str, ...]


LEVELS = (
    Level(1, "新手", 0, ("post and reply (first topics reviewed)",)),
    Level(2, "见习", 50, ("topics publish without review", "relaxed posting limits")),
    Level(3, "常驻", 200, ("reports count toward auto-hide",)),
    Level(4, "达人", 500, ("early access to eligible pre-sales",)),
    Level(5, "精英", 1000, ("apply for experience-officer campaigns",)),
    Level(6, "专家", 2000, ("badge showcase of 3",)),
    Level(7, "大师", 4000, ("priority feedback channel",)),
    Level(8, "宗师", 8000, ("beta product invitations",)),
    Level(9, "传奇", 15000, ("annual community gift",)),
    Level(10, "社区之星", 30000, ("meet the product team",)),
)


def privileges_of(level: Level) -> list[str]:
    """The level's privileges, with those that settings place (the verified idea supporter's level is one)."""
    extra = ["verified idea supporter"] if level.number == current_app.config["IDEA_VERIFIED_MIN_LEVEL"] else []
    return [*level.privileges, *extra]


def level_for(contribution: int) -> Level:
    reached = LEVELS[0]
    for level in LEVELS:
        if contribution >= level.threshold:
            reached = level
    return reached


def next_level(contribution: int) -> Level | None:
    current = level_for(contribution)
    return LEVELS[current.number] if current.number < len(LEVELS) else None


def sync_level(user_id: int, contribution: int, *, moved_by: int | None = None) -> int:
    """Store the member's level (moderation reads it) and announce a new high (badges react to it).

    `moved_by`: what this unit of work's credit has just added to the contribution, under the account's row lock.
    The level is written only under that lock and from the contribution it guards, so when neither the contribution
    before the credit nor after it reaches another level than the member's as this unit of work loaded them, the
    stored level is that one and is not read again (a check-in's or an award's usual case)."""
    level = level_for(contribution).number
    if moved_by is not None and level == level_for(contribution - moved_by).number == _loaded_level(user_id):
        return level
    previous = db.session.scalar(select(User.level).where(User.id == user_id))
    if previous != level:
        db.session.execute(update(User).where(User.id == user_id).values(level=level))
    if previous is not None and level > previous:
        outbox.emit(events.LEVEL_REACHED, actor_id=user_id, subject=("user", user_id), payload={"level": level})
    return level


def follow_credit(user_id: int, credited: ledger.Credited, added: int) -> None:
    """The level after a credit that added `added` to the member's contribution (nothing when its key had been paid
    before: that credit moved nothing)."""
    if credited.created and credited.contribution is not None:
        sync_level(user_id, credited.contribution, moved_by=added)


def _loaded_level(user_id: int) -> int | None:
    """The member's level as this unit of work loaded it, without loading anything."""
    held = db.session.identity_map.get(db.session.identity_key(User, user_id))
    return None if held is None else inspect(held).dict.get("level")


@outbox.subscribe(events.LEVEL_REACHED, name="economy.recount_idea_supports")
def _recount_supports(event: Event) -> None:
    """A member who levels up may now be a verified supporter of the ideas they back."""
    ideas.recount_member(event.subject_id or 0, clock.now())
