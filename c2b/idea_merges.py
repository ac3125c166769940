"""Merging duplicate ideas (as Fider does): B's supporters are re-cast onto A, a member never counted twice; B
reads as merged and points to A; B's supporters hear of it. A merge can be undone until A reaches its next
milestone (after that, A earned the milestone partly with B's supporters)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from c2b import events
from c2b.ideas import Idea, IdeaSupport, get_idea, recount
from forum.members import User
from kernel import audit, clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict
from kernel.sql import insert_if_absent, move, one_of

MERGEABLE = ("supporting", "qualified", "in_review", "expired")


class IdeaMerge(Model):
    """B merged into A: what it takes to undo it."""

    __tablename__ = "idea_merges"

    merged_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True)  # B
    into_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)  # A
    status_before: Mapped[str] = mapped_column(String(16))
    milestones_at_merge: Mapped[int] = mapped_column(Integer)  # A's, when merged
    merged_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecastSupport(Model):
    """A support on A that the merge created from B (the ones an undo removes)."""

    __tablename__ = "idea_recast_supports"

    merged_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


def merged_into_each(idea_ids: list[int]) -> dict[int, int]:
    """Where each of these merged ideas went, by idea: one query for one idea or a page of them."""
    if not idea_ids:
        return {}
    rows = db.session.execute(
        select(IdeaMerge.merged_id, IdeaMerge.into_id).where(one_of(IdeaMerge.merged_id, "idea_ids")),
        {"idea_ids": idea_ids},
    )
    return {merged: into for merged, into in rows}


def merge(actor: User, merged_id: int, into_id: int, reason: str) -> Idea:
    actor.ensure_role("moderator", "product", doing="merge ideas")
    if merged_id == into_id:
        raise Conflict("an idea cannot merge into itself", code="merge_into_itself")
    now = clock.now()
    # Both rows locked in id order: two merges touching the same ideas wait for each other and cannot deadlock.
    for idea_id in sorted((merged_id, into_id)):
        db.session.get(Idea, idea_id, with_for_update={"of": Idea}, populate_existing=True)
    source, target = get_idea(merged_id), get_idea(into_id)
    for idea in (source, target):
        if idea.status not in MERGEABLE:
            raise Conflict(f"a {idea.status} idea cannot be merged", code="idea_not_mergeable", details={"id": idea.id})
    status_before = source.status
    if not move(source, "merged", sources=(status_before,)):
        raise Conflict("the idea changed meanwhile", code="invalid_transition")
    db.session.add(
        IdeaMerge(
            merged_id=source.id,
            into_id=target.id,
            status_before=status_before,
            milestones_at_merge=target.milestones_reached,
            merged_by=actor.id,
            merged_at=now,
        )
    )
    for support in db.session.scalars(select(IdeaSupport).where(IdeaSupport.idea_id == source.id)).all():
        if support.user_id == target.creator_id:
            continue  # nobody supports their own idea
        recast = insert_if_absent(
            IdeaSupport,
            {
                "idea_id": target.id,
                "user_id": support.user_id,
                "verified": support.verified,
                "supporter_level": support.supporter_level,
                "would_buy": support.would_buy,
                "price_cents": support.price_cents,
                "created_at": support.created_at,
            },
        )
        if recast:  # already a supporter of A: counted once, and an undo leaves their own support alone
            db.session.add(RecastSupport(merged_id=source.id, user_id=support.user_id))
    db.session.flush()
    recount(target.id, now)
    outbox.emit(
        events.IDEA_MERGED,
        actor_id=actor.id,
        subject=("idea", source.id),
        payload={"into_id": target.id, "title": source.title, "into_title": target.title},
    )
    audit.record(actor, "idea.merge", "idea", source.id, reason, into_id=target.id)
    return source


def unmerge(actor: User, merged_id: int, reason: str) -> Idea:
    actor.ensure_role("moderator", "product", doing="merge ideas")
    get_idea(merged_id)
    record = db.session.get(IdeaMerge, merged_id)
    if record is None:
        raise Conflict("this idea is not merged", code="idea_not_merged")
    target = db.session.get_one(Idea, record.into_id, with_for_update={"of": Idea}, populate_existing=True)
    if target.milestones_reached > record.milestones_at_merge:
        raise Conflict(
            "the idea it was merged into has reached a milestone since",
            code="merge_final",
            details={"into_id": target.id},
        )
    source = get_idea(merged_id)
    recast_members = select(RecastSupport.user_id).where(RecastSupport.merged_id == merged_id)
    db.session.execute(
        delete(IdeaSupport)
        .where(IdeaSupport.idea_id == target.id, IdeaSupport.user_id.in_(recast_members))
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(RecastSupport).where(RecastSupport.merged_id == merged_id))
    move(source, record.status_before, sources=("merged",))
    db.session.delete(record)
    db.session.flush()
    recount(target.id, clock.now())
    audit.record(actor, "idea.unmerge", "idea", source.id, reason, into_id=target.id)
    return source
