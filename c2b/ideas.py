"""Product ideas (LEGO Ideas model): submission, support with a demand survey, milestones and deadlines.

Lifecycle: pending_review → supporting → expired | qualified → in_review → approved | not_approved; a guideline
rejection sends an idea to `rejected`, from which the creator edits and resubmits; staff may archive any idea.

Support milestones extend the deadline (by default, as on LEGO Ideas: 100 verified supporters within 60 days earn
365 more days, 1,000 earn 182, 5,000 earn 182, 10,000 qualify). Only verified supporters — old enough accounts at a
high enough level — move milestones; every support is recorded and shown. An idea past its deadline reads as
expired at once; `flask ideas expire` only writes down what reads already say.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    Update,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from c2b import events
from forum import hot
from forum.media import Media, owned_media
from forum.members import STAFF_ROLES, User
from forum.notifications import notify
from forum.permissions import ensure_can_contribute
from kernel import audit, clock, fanout, outbox
from kernel.db import Model, UTCDateTime, db, is_postgres
from kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kernel.outbox import Event
from kernel.pagination import Page, keyset_page
from kernel.search import substring_match
from kernel.sql import as_loaded, column_rows, get_or_404, move, move_or_refuse, one_of, rows_changed
from kernel.unit_of_work import transaction

STATUSES = (
    "pending_review",
    "rejected",
    "supporting",
    "expired",
    "qualified",
    "in_review",
    "approved",
    "not_approved",
    "archived",
    "merged",
    "hidden",
    "deleted",
)
CONTENT_STATUSES = ("published", "pending_review", "hidden", "deleted")
CATEGORIES = ("building_sets", "figures", "accessories", "apparel", "digital", "other")


class Idea(Model):
    __tablename__ = "ideas"

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    supporter_count: Mapped[int] = mapped_column(Integer, default=0)
    verified_supporter_count: Mapped[int] = mapped_column(Integer, default=0)
    milestones_reached: Mapped[int] = mapped_column(Integer, default=0)
    trend_score: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str] = mapped_column(String(500), default="")
    decision_feedback: Mapped[str] = mapped_column(Text, default="")
    # Review rounds (see review_rounds): the round the idea is reviewed in, and a decision taken in it that waits
    # for the round's publication.
    review_round_id: Mapped[int | None] = mapped_column(ForeignKey("review_rounds.id"), index=True)
    pending_decision: Mapped[str] = mapped_column(String(16), default="")
    hidden_from: Mapped[str] = mapped_column(String(16), default="")  # the status a hidden idea returns to

    creator: Mapped[User] = relationship(lazy="joined")
    images: Mapped[list[Media]] = relationship(
        secondary="idea_images", order_by="IdeaImage.position", lazy="selectin", viewonly=True
    )

    __table_args__ = (
        Index("ix_ideas_status_supporters", "status", "verified_supporter_count", "id"),
        Index("ix_ideas_status_trend", "status", "trend_score", "id"),
        Index("ix_ideas_status_published", "status", "published_at", "id"),
        Index("ix_ideas_deadline", "status", "deadline_at"),
    )


class IdeaImage(Model):
    __tablename__ = "idea_images"

    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class IdeaSupport(Model):
    __tablename__ = "idea_supports"

    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    verified: Mapped[bool] = mapped_column(default=False)
    supporter_level: Mapped[int] = mapped_column(Integer, default=1)
    would_buy: Mapped[int | None] = mapped_column(Integer)
    price_cents: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_idea_supports_idea_time", "idea_id", "created_at"),)


class IdeaUpdate(Model):
    __tablename__ = "idea_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    # published | pending_review (the word filter or WeChat held it) | hidden | deleted
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdeaComment(Model):
    __tablename__ = "idea_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="published")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (Index("ix_idea_comments_idea", "idea_id", "id"),)


@dataclass(frozen=True)
class Milestone:
    supporters: int
    extension_days: int | None  # None: reaching it qualifies the idea


def milestones() -> list[Milestone]:
    return [Milestone(count, days) for count, days in current_app.config["IDEA_MILESTONES"]]


def effective_status(idea: Idea, now: datetime) -> str:
    """What the idea is now, even before the expiry job has written it down."""
    if idea.status == "supporting" and idea.deadline_at is not None and idea.deadline_at <= now:
        return "expired"
    return idea.status


def _clean(title: str, description: str, category: str) -> tuple[str, str, str]:
    title, description = " ".join(title.split()), description.strip()
    errors = {}
    if not 4 <= len(title) <= 120:
        errors["title"] = ["4-120 characters"]
    if not 20 <= len(description) <= 20000:
        errors["description"] = ["20-20000 characters"]
    if category not in CATEGORIES:
        errors["category"] = [f"one of {', '.join(CATEGORIES)}"]
    if errors:
        raise ValidationFailed("the idea is not complete", details=errors)
    return title, description, category


def _set_images(idea: Idea, creator: User, image_ids: list[int]) -> None:
    media = owned_media(creator, image_ids)
    if not 1 <= len(media) <= 9:
        raise ValidationFailed("an idea needs 1 to 9 images", details={"image_ids": ["1 to 9 of your uploads"]})
    db.session.execute(delete(IdeaImage).where(IdeaImage.idea_id == idea.id))
    for position, item in enumerate(media):
        db.session.add(IdeaImage(idea_id=idea.id, media_id=item.id, position=position))
    db.session.flush()
    db.session.expire(idea, ["images"])


def get_idea(idea_id: int) -> Idea:
    return get_or_404(Idea, idea_id, "idea")


def can_see(idea: Idea, viewer: User | None) -> bool:
    if idea.status in ("pending_review", "rejected", "hidden", "deleted"):
        return viewer is not None and (viewer.id == idea.creator_id or viewer.has_role("moderator", "product"))
    return True


def visible_idea(idea_id: int, viewer: User | None) -> Idea:
    """The idea with its creator and images, or 404 `idea_not_found` when it is missing or the viewer may not see it."""
    idea = _idea_with_creator_and_images(idea_id)
    if idea is None or not can_see(idea, viewer):
        raise NotFound("no such idea", code="idea_not_found")
    return idea


# An idea, its creator and its images (one row each, in order; none: one row of NULLs) in one statement, made into
# objects without the ORM's loading (kernel.sql.as_loaded): the ORM's joined loading of the three cost twice the
# statement, and every support starts here.
_IDEA_COLUMNS = len(Idea.__table__.columns)
_CREATOR_COLUMNS = len(User.__table__.columns)
_IDEA_WITH_CREATOR_AND_IMAGES = (
    select(*Idea.__table__.columns, *User.__table__.columns, *Media.__table__.columns)
    .join(User, User.id == Idea.creator_id)
    .outerjoin(IdeaImage, IdeaImage.idea_id == Idea.id)
    .outerjoin(Media, Media.id == IdeaImage.media_id)
    .where(Idea.id == bindparam("idea_id"))
    .order_by(IdeaImage.position)
)


def _idea_with_creator_and_images(idea_id: int) -> Idea | None:
    held = db.session.identity_map.get(db.session.identity_key(Idea, idea_id))
    if held is not None:  # already in this unit of work, perhaps changed: as it stands (its relationships load lazily)
        return held
    rows = column_rows(_IDEA_WITH_CREATOR_AND_IMAGES, {"idea_id": idea_id}).all()
    if not rows:
        return None
    media_from = _IDEA_COLUMNS + _CREATOR_COLUMNS
    idea = as_loaded(Idea, rows[0][:_IDEA_COLUMNS])
    set_committed_value(idea, "creator", as_loaded(User, rows[0][_IDEA_COLUMNS:media_from]))
    images = [as_loaded(Media, row[media_from:]) for row in rows if row[media_from] is not None]
    set_committed_value(idea, "images", images)
    return idea


def submit(creator: User, *, title: str, description: str, category: str, image_ids: list[int]) -> Idea:
    now = clock.now()
    ensure_can_contribute(creator, now, "idea")
    title, description, category = _clean(title, description, category)
    idea = Idea(
        creator_id=creator.id,
        title=title,
        description=description,
        category=category,
        status="pending_review",
        supporter_count=0,
        verified_supporter_count=0,
        milestones_reached=0,
        trend_score=0.0,
        created_at=now,
        submitted_at=now,
        rejection_reason="",
        decision_feedback="",
    )
    db.session.add(idea)
    db.session.flush()
    _set_images(idea, creator, image_ids)
    return idea


def edit(creator: User, idea_id: int, **changes) -> Idea:
    """Creators edit while in review or after a guideline rejection; an edit after rejection resubmits."""
    idea = visible_idea(idea_id, creator)
    if idea.creator_id != creator.id:
        raise Forbidden("only the creator edits an idea", code="not_author")
    if idea.status not in ("pending_review", "rejected"):
        raise Conflict("an idea cannot change once it is public", code="idea_locked")
    title, description, category = _clean(
        changes.get("title", idea.title),
        changes.get("description", idea.description),
        changes.get("category", idea.category),
    )
    idea.title, idea.description, idea.category = title, description, category
    if "image_ids" in changes:
        _set_images(idea, creator, changes["image_ids"])
    if idea.status == "rejected":
        idea.status, idea.submitted_at, idea.rejection_reason = "pending_review", clock.now(), ""
    db.session.flush()
    return idea


def _transition(idea: Idea, allowed_from: tuple[str, ...], to: str, **values) -> None:
    """Two deciders cannot both move an idea."""
    move_or_refuse(idea, to, sources=allowed_from, what="an idea", **values)


def publish(idea: Idea) -> None:
    now = clock.now()
    _transition(
        idea,
        ("pending_review",),
        "supporting",
        published_at=now,
        deadline_at=now + timedelta(days=current_app.config["IDEA_INITIAL_DAYS"]),
    )
    idea.trend_score = _trend(idea)
    outbox.emit(
        events.IDEA_PUBLISHED,
        actor_id=idea.creator_id,
        subject=("idea", idea.id),
        payload={"creator_id": idea.creator_id},
    )


def reject(idea: Idea, reason: str) -> None:
    _transition(idea, ("pending_review",), "rejected", rejection_reason=reason)


def _trend(idea: Idea) -> float:
    return hot.ranking(idea.verified_supporter_count, _ranked_since(idea))


def _ranked_since(idea: Idea) -> datetime:
    return idea.published_at or idea.created_at


def _not_supporting(idea: Idea, now: datetime) -> Conflict:
    status = effective_status(idea, now)
    return Conflict("this idea is not collecting support", code="idea_not_supporting", details={"status": status})


class Supported(NamedTuple):
    idea: Idea
    support: IdeaSupport


def support(member: User, idea_id: int, *, would_buy: int | None, price_cents: int | None) -> Supported:
    """One support per member per idea (PUT again to change the survey answers): the idea as it now stands and the
    member's support.

    A popular idea's row is what every supporter writes, so it is locked only for the last step: the support row and
    its event go in first, then one conditional UPDATE moves the counters and the trend only while the idea still
    collects support (read again under the lock: nobody supports an idea another supporter has just qualified, or
    that has expired), and the milestones follow from the counts it returns; the commit comes next."""
    now = clock.now()
    ensure_can_contribute(member, now, "support")
    idea = visible_idea(idea_id, member)
    if member.id == idea.creator_id:
        raise Forbidden("you cannot support your own idea", code="own_content")
    if effective_status(idea, now) != "supporting":
        raise _not_supporting(idea, now)
    cfg = current_app.config
    if now - member.created_at < timedelta(hours=cfg["IDEA_SUPPORT_MIN_ACCOUNT_HOURS"]):
        raise Forbidden(
            "new accounts support ideas after a while",
            code="account_too_new",
            details={"hours": cfg["IDEA_SUPPORT_MIN_ACCOUNT_HOURS"]},
        )
    verified = qualifies(member, now)
    values = {
        "idea_id": idea.id,
        "user_id": member.id,
        "verified": verified,
        "supporter_level": member.level,
        "would_buy": would_buy,
        "price_cents": price_cents,
        "created_at": now,
    }
    payload = {"creator_id": idea.creator_id, "verified": verified}
    counting = {"now": now, "verified_added": 1 if verified else 0, "age_term": hot.age_term(_ranked_since(idea))}
    # The support and its event go in before the idea's row is locked, by the count that follows (in the same
    # statement on PostgreSQL, the count a CTE fed by the support's): if the idea has stopped collecting, the refusal
    # rolls both back with the rest.
    counted_now: Sequence[Any] | None
    if is_postgres():
        written = outbox.insert_announced_then(
            IdeaSupport,
            values,
            events.IDEA_SUPPORTED,
            (_count_added_support,),
            counting,
            actor_id=member.id,
            subject=("idea", idea.id),
            payload=payload,
        )
        row, counted_now = written if written is not None else (None, None)
    else:
        row = outbox.insert_announced(
            IdeaSupport, values, events.IDEA_SUPPORTED, actor_id=member.id, subject=("idea", idea.id), payload=payload
        )
        counted_now = None if row is None else column_rows(_COUNT_SUPPORT, {"idea_id": idea.id, **counting}).first()
    if row is None:
        db.session.execute(
            update(IdeaSupport)
            .where(IdeaSupport.idea_id == idea.id, IdeaSupport.user_id == member.id)
            .values(would_buy=would_buy, price_cents=price_cents)
            .execution_options(synchronize_session=False)
        )
        return Supported(idea, db.session.get_one(IdeaSupport, (idea.id, member.id), populate_existing=True))
    if counted_now is None:  # it stopped collecting while this support went in: the support goes with the refusal
        db.session.refresh(idea)
        raise _not_supporting(idea, now)
    for field, value in zip(_LOCKED_FIELDS, counted_now, strict=True):
        set_committed_value(idea, field.key, value)
    _advance_milestones(idea, now)  # rarely anything: a milestone's writes are flushed with the commit
    return Supported(idea, row)


# What a support reads back under the idea's row lock: the counters it moved and what milestones change.
_LOCKED_FIELDS = (
    Idea.supporter_count,
    Idea.verified_supporter_count,
    Idea.trend_score,
    Idea.milestones_reached,
    Idea.status,
    Idea.deadline_at,
    Idea.qualified_at,
)


def _count_support(idea_id: ColumnElement[int]) -> Update:
    """The support's counting UPDATE (its values are parameters): counters and trend move only while the idea still
    collects support, read under the row's lock, and it returns the figures it moved (they go onto the idea by
    hand)."""
    verified_now = Idea.verified_supporter_count + bindparam("verified_added", type_=Integer)
    return (
        update(Idea)
        .where(
            Idea.id == idea_id,
            Idea.status == "supporting",
            or_(Idea.deadline_at.is_(None), Idea.deadline_at > bindparam("now", type_=UTCDateTime)),
        )
        .values(
            supporter_count=Idea.supporter_count + 1,
            verified_supporter_count=verified_now,
            # `_trend` in SQL, from the verified count it sets: a popular idea's row takes one write under its lock.
            trend_score=hot.ranking_sql(verified_now, bindparam("age_term", type_=Float)),
        )
        .returning(*_LOCKED_FIELDS)
    )


_COUNT_SUPPORT = _count_support(bindparam("idea_id"))  # built once, run as Core (SQLite)


def _count_added_support(added: Any) -> Any:
    """The count as a CTE of the support's own statement (PostgreSQL), for the idea of the row just added."""
    return _count_support(added.c.idea_id).cte("counted")


def withdraw(member: User, idea_id: int) -> bool:
    now = clock.now()
    idea = visible_idea(idea_id, member)
    if effective_status(idea, now) != "supporting":
        raise Conflict("support can only be withdrawn while the idea is collecting it", code="idea_not_supporting")
    row = db.session.get(IdeaSupport, (idea.id, member.id))
    if row is None:
        return False
    removed = rows_changed(delete(IdeaSupport).where(IdeaSupport.idea_id == idea.id, IdeaSupport.user_id == member.id))
    if removed:
        # Milestones already reached stay reached: they were earned when they happened.
        db.session.execute(
            update(Idea)
            .where(Idea.id == idea.id)
            .values(
                supporter_count=Idea.supporter_count - 1,
                verified_supporter_count=Idea.verified_supporter_count - (1 if row.verified else 0),
            )
        )
        db.session.refresh(idea)
        idea.trend_score = _trend(idea)
    return bool(removed)


# Who counts toward milestones: every supporter (as on LEGO Ideas), or with IDEA_SUPPORT_POLICY=verified only
# members who qualify now (level and account age). Either way a banned or deleted member's support stops counting;
# verification is live: the recount follows members as they level up, age, are banned or leave.
POLICIES = ("all", "verified")


def counting_policy() -> str:
    return current_app.config["IDEA_SUPPORT_POLICY"]


def counted(idea: Idea) -> int:
    return idea.verified_supporter_count if counting_policy() == "verified" else idea.supporter_count


def counted_column() -> InstrumentedAttribute[int]:
    return Idea.verified_supporter_count if counting_policy() == "verified" else Idea.supporter_count


def qualifies(member: User, now: datetime) -> bool:
    cfg = current_app.config
    return (
        member.banned_at is None
        and member.deleted_at is None
        and member.level >= cfg["IDEA_VERIFIED_MIN_LEVEL"]
        and now - member.created_at >= timedelta(days=cfg["IDEA_VERIFIED_MIN_AGE_DAYS"])
    )


def _standing_supporters(now: datetime, verified_only: bool) -> Select[Any]:
    cfg = current_app.config
    conditions: list[ColumnElement[bool]] = [User.banned_at.is_(None), User.deleted_at.is_(None)]
    if verified_only:
        conditions += [
            User.level >= cfg["IDEA_VERIFIED_MIN_LEVEL"],
            User.created_at <= now - timedelta(days=cfg["IDEA_VERIFIED_MIN_AGE_DAYS"]),
        ]
    return select(User.id).where(*conditions)


def recount(idea_id: int, now: datetime) -> Idea:
    """Count an idea's supporters again from the supports themselves, under the idea's row lock (so a support
    landing meanwhile waits and then adds to the exact count), and advance milestones the new count reaches."""
    idea = db.session.get_one(Idea, idea_id, with_for_update={"of": Idea}, populate_existing=True)
    verified_members = _standing_supporters(now, verified_only=True)
    mine = IdeaSupport.idea_id == idea.id
    db.session.execute(
        update(IdeaSupport)
        .where(mine, IdeaSupport.verified != IdeaSupport.user_id.in_(verified_members))
        .values(verified=IdeaSupport.user_id.in_(verified_members))
        .execution_options(synchronize_session=False)
    )

    def count(members) -> int:
        return db.session.execute(
            select(func.count()).select_from(IdeaSupport).where(mine, IdeaSupport.user_id.in_(members))
        ).scalar_one()

    idea.supporter_count = count(_standing_supporters(now, verified_only=False))
    idea.verified_supporter_count = count(verified_members)
    if effective_status(idea, now) == "supporting":
        _advance_milestones(idea, now)
    idea.trend_score = _trend(idea)
    return idea


def recount_member(user_id: int, now: datetime) -> int:
    """A member's standing changed (level, ban, deletion): recount the ideas they support that still collect."""
    idea_ids = db.session.scalars(
        select(IdeaSupport.idea_id)
        .join(Idea, Idea.id == IdeaSupport.idea_id)
        .where(IdeaSupport.user_id == user_id, Idea.status == "supporting")
        .order_by(IdeaSupport.idea_id)
    ).all()
    for idea_id in idea_ids:
        recount(idea_id, now)
    return len(idea_ids)


def recount_supporting(now: datetime) -> int:
    """The periodic recount: accounts age into verification without any event to say so."""
    idea_ids = db.session.scalars(select(Idea.id).where(Idea.status == "supporting").order_by(Idea.id)).all()
    for idea_id in idea_ids:
        with transaction():
            recount(idea_id, now)
    return len(idea_ids)


def _advance_milestones(idea: Idea, now: datetime) -> None:
    stages = milestones()
    while idea.milestones_reached < len(stages) and idea.status == "supporting":
        stage = stages[idea.milestones_reached]
        if counted(idea) < stage.supporters:
            return
        idea.milestones_reached += 1
        outbox.emit(
            events.IDEA_MILESTONE_REACHED,
            actor_id=idea.creator_id,
            subject=("idea", idea.id),
            payload={
                "creator_id": idea.creator_id,
                "supporters": stage.supporters,
                "milestone": idea.milestones_reached,
            },
        )
        if stage.extension_days is None:
            idea.status, idea.qualified_at, idea.deadline_at = "qualified", now, None
            outbox.emit(
                events.IDEA_STATUS_CHANGED,
                subject=("idea", idea.id),
                payload={"creator_id": idea.creator_id, "status": "qualified"},
            )
        else:
            idea.deadline_at = now + timedelta(days=stage.extension_days)


def expire_due(now: datetime) -> int:
    """Write down expiry for supporting ideas past their deadline (reads already show them expired)."""
    due = db.session.scalars(select(Idea).where(Idea.status == "supporting", Idea.deadline_at <= now)).all()
    for idea in due:
        if move(idea, "expired", sources=("supporting",), where=(Idea.deadline_at <= now,)):
            outbox.emit(
                events.IDEA_STATUS_CHANGED,
                subject=("idea", idea.id),
                payload={"creator_id": idea.creator_id, "status": "expired"},
            )
    return len(due)


DECISIONS = {
    "start_review": (("qualified",), "in_review"),
    "approve": (("in_review",), "approved"),
    "not_approve": (("in_review",), "not_approved"),
    "archive": (STATUSES, "archived"),
}


def decide(actor: User, idea_id: int, decision: str, feedback: str) -> Idea:
    """Product team decisions on qualified ideas, with public feedback."""
    actor.ensure_role("product", doing="decide on ideas")
    idea = get_idea(idea_id)
    if decision not in DECISIONS:
        raise ValidationFailed("unknown decision", details={"decision": list(DECISIONS)})
    if decision in ("approve", "not_approve") and not feedback.strip():
        raise ValidationFailed("tell the community why", details={"feedback": ["required"]})
    apply_decision(idea, decision, feedback, actor_id=actor.id)
    audit.record(actor, f"idea.{decision}", "idea", idea.id, feedback.strip())
    return idea


def apply_decision(idea: Idea, decision: str, feedback: str, *, actor_id: int | None) -> None:
    """Move the idea and tell everyone; used at once, or when a review round publishes its decisions."""
    sources, target = DECISIONS[decision]
    sources = tuple(status for status in sources if status != target)
    _transition(
        idea,
        sources,
        target,
        decided_at=clock.now(),
        **({"decision_feedback": feedback.strip()} if feedback.strip() else {}),
    )
    outbox.emit(
        events.IDEA_STATUS_CHANGED,
        actor_id=actor_id,
        subject=("idea", idea.id),
        payload={"creator_id": idea.creator_id, "status": target},
    )
    if target == "approved":
        outbox.emit(
            events.IDEA_APPROVED, actor_id=actor_id, subject=("idea", idea.id), payload={"creator_id": idea.creator_id}
        )


def list_ideas(
    *,
    status: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
    q: str | None = None,
    category: str | None = None,
) -> Page:
    hidden = ["pending_review", "rejected", "hidden", "deleted"] + ([] if status == "merged" else ["merged"])
    query = select(Idea).where(Idea.status.not_in(hidden))
    if q and q.strip():  # the same substring search as posts
        query = query.where(substring_match(Idea.id, (Idea.title, Idea.description), "ideas_search", q))
    if category:
        query = query.where(Idea.category == category)
    if status == "expired":
        query = query.where((Idea.status == "expired") | ((Idea.status == "supporting") & (Idea.deadline_at <= now)))
    elif status == "supporting":
        query = query.where(Idea.status == "supporting", (Idea.deadline_at.is_(None)) | (Idea.deadline_at > now))
    elif status:
        query = query.where(Idea.status == status)
    orders: dict[str, list[InstrumentedAttribute[Any]]] = {
        "supporters": [counted_column(), Idea.id],
        "trending": [Idea.trend_score, Idea.id],
        "newest": [Idea.id],
    }
    keys = orders[sort]
    return keyset_page(query, keys, limit, cursor)


def ideas_of(creator: User, limit: int, cursor: str | None) -> Page:
    """All of a member's ideas, whatever their status (rejected ones with the reason)."""
    return keyset_page(select(Idea).where(Idea.creator_id == creator.id), [Idea.id], limit, cursor)


def ideas_by_id(idea_ids: list[int]) -> dict[int, Idea]:
    """These ideas by id, whatever their status, in one query (and their images in one more)."""
    if not idea_ids:
        return {}
    return {idea.id: idea for idea in db.session.scalars(select(Idea).where(one_of(Idea.id, "ids")), {"ids": idea_ids})}


def supports_among(member: User | None, idea_ids: list[int]) -> dict[int, IdeaSupport]:
    """The member's supports of these ideas, by idea: a page of ideas reads its reader's in one query."""
    if member is None or not idea_ids:
        return {}
    found = db.session.scalars(
        select(IdeaSupport).where(IdeaSupport.user_id == member.id, one_of(IdeaSupport.idea_id, "idea_ids")),
        {"idea_ids": idea_ids},
    )
    return {support.idea_id: support for support in found}


def supports_of(member: User, limit: int, cursor: str | None) -> Page:
    """The ideas a member supports, most recent support first."""
    query = select(IdeaSupport).where(IdeaSupport.user_id == member.id)
    return keyset_page(query, [IdeaSupport.created_at, IdeaSupport.idea_id], limit, cursor)


def review_queue(limit: int, cursor: str | None) -> Page:
    query = select(Idea).where(Idea.status.in_(("qualified", "in_review")))
    return keyset_page(query, [counted_column(), Idea.id], limit, cursor)


def add_update(creator: User, idea_id: int, title: str, body: str, status: str = "published") -> IdeaUpdate:
    idea = visible_idea(idea_id, creator)
    if idea.creator_id != creator.id:
        raise Forbidden("only the creator posts updates", code="not_author")
    if idea.status in ("pending_review", "rejected", "archived"):
        raise Conflict("updates are for public ideas", code="idea_not_public")
    update_row = IdeaUpdate(
        idea_id=idea.id, title=" ".join(title.split()), body=body.strip(), status=status, created_at=clock.now()
    )
    db.session.add(update_row)
    db.session.flush()
    if status == "published":
        _announce_update(update_row, creator.id)
    return update_row


def _announce_update(update_row: IdeaUpdate, actor_id: int | None) -> None:
    outbox.emit(
        events.IDEA_UPDATE_POSTED,
        actor_id=actor_id,
        subject=("idea", update_row.idea_id),
        payload={"update_id": update_row.id, "title": update_row.title},
    )


def updates_of(idea_id: int, viewer: User | None, limit: int, cursor: str | None) -> Page[IdeaUpdate]:
    """Newest first."""
    visible_idea(idea_id, viewer)
    query = select(IdeaUpdate).where(IdeaUpdate.idea_id == idea_id, IdeaUpdate.status == "published")
    return keyset_page(query, [IdeaUpdate.id], limit, cursor)


def add_comment(author: User, idea_id: int, body: str, status: str = "published") -> IdeaComment:
    ensure_can_contribute(author, clock.now(), "comment")
    idea = visible_idea(idea_id, author)
    if idea.status in ("pending_review", "rejected"):
        raise Conflict("comments open once the idea is public", code="idea_not_public")
    body = body.strip()
    if not 1 <= len(body) <= 5000:
        raise ValidationFailed("invalid comment", details={"body": ["1-5000 characters"]})
    comment = IdeaComment(idea_id=idea.id, author_id=author.id, body=body, status=status, created_at=clock.now())
    db.session.add(comment)
    db.session.flush()
    return comment


def get_comment(comment_id: int) -> IdeaComment:
    return get_or_404(IdeaComment, comment_id, "comment")


def get_update(update_id: int) -> IdeaUpdate:
    return get_or_404(IdeaUpdate, update_id, "update")


def creator_of_update(update_row: IdeaUpdate) -> int:
    return get_idea(update_row.idea_id).creator_id


def set_visibility(idea: Idea, status: str, actor_id: int | None, reason: str) -> bool:
    """Hide, delete or restore a public idea (moderation); the points it earned go back while it is removed."""
    if status == "published":
        if idea.status != "hidden" or not idea.hidden_from:
            return False
        if not move(idea, idea.hidden_from, sources=("hidden",), hidden_from=""):
            return False
        outbox.emit(
            events.IDEA_RESTORED,
            actor_id=actor_id,
            subject=("idea", idea.id),
            payload={"creator_id": idea.creator_id, "reason": reason},
        )
        return True
    was = idea.status
    if was in ("pending_review", "rejected", "deleted") or was == status:
        return False
    if not move(idea, status, sources=(was,), hidden_from=idea.hidden_from if was == "hidden" else was):
        return False
    if was != "hidden":
        outbox.emit(
            events.IDEA_REMOVED,
            actor_id=actor_id,
            subject=("idea", idea.id),
            payload={"creator_id": idea.creator_id, "status": status, "reason": reason},
        )
    return True


def set_comment_status(comment: IdeaComment, status: str) -> bool:
    """Publish, hide or delete a comment; False when it already was (a conditional move: races apply once)."""
    return move(comment, status, sources=tuple(s for s in CONTENT_STATUSES if s != status))


def set_update_status(update_row: IdeaUpdate, status: str, actor_id: int | None) -> bool:
    was = update_row.status
    moved = move(update_row, status, sources=tuple(s for s in CONTENT_STATUSES if s != status))
    if moved and status == "published" and was == "pending_review":
        _announce_update(update_row, actor_id)  # held at first: supporters hear of it once it is approved
    return moved


def delete_own_update(creator: User, update_id: int) -> IdeaUpdate:
    update_row = get_update(update_id)
    if creator_of_update(update_row) != creator.id:
        raise Forbidden("only the creator deletes this update", code="not_author")
    set_update_status(update_row, "deleted", creator.id)
    return update_row


# A creator may withdraw an idea until the product team takes it up; after that it belongs to its backers too.
CREATOR_DELETABLE = ("pending_review", "rejected", "supporting", "expired")


def delete_own_idea(creator: User, idea_id: int) -> Idea:
    idea = visible_idea(idea_id, creator)
    if idea.creator_id != creator.id:
        raise Forbidden("only the creator deletes this idea", code="not_author")
    if idea.status not in CREATOR_DELETABLE:
        raise Conflict(f"a {idea.status} idea cannot be withdrawn", code="idea_locked")
    if idea.status in ("pending_review", "rejected"):
        move(idea, "deleted", sources=(idea.status,))
    else:
        set_visibility(idea, "deleted", creator.id, "withdrawn by its creator")
    audit.record(creator, "idea.delete", "idea", idea.id)
    return idea


def delete_own_comment(author: User, comment_id: int) -> IdeaComment:
    comment = get_comment(comment_id)
    if comment.author_id != author.id:
        raise Forbidden("only the author deletes this comment", code="not_author")
    set_comment_status(comment, "deleted")
    return comment


def comments_of(idea_id: int, viewer: User | None, limit: int, cursor: str | None) -> Page:
    visible_idea(idea_id, viewer)
    query = select(IdeaComment).where(IdeaComment.idea_id == idea_id, IdeaComment.status == "published")
    return keyset_page(query, [IdeaComment.id], limit, cursor, descending=False)


def supporter_ids(idea_id: int) -> list[int]:
    return list(db.session.scalars(select(IdeaSupport.user_id).where(IdeaSupport.idea_id == idea_id)))


def demand_for(viewer: User, idea_id: int, min_level: int | None, now: datetime) -> dict:
    """The product team (and operators) read every idea's demand; a creator reads their own."""
    idea = get_idea(idea_id)
    if viewer.id != idea.creator_id:
        viewer.ensure_role("product", "operator", doing="read demand reports")
    return demand(idea_id, min_level, now)


def demand(idea_id: int, min_level: int | None, now: datetime) -> dict:
    """What the product team needs: who supports, how many would buy, at what price, and how fast. Staff
    supports, and those of banned or deleted members, are not demand."""
    idea = get_idea(idea_id)
    min_level = min_level or current_app.config["IDEA_VERIFIED_MIN_LEVEL"]
    members = select(User.id).where(User.role.not_in(STAFF_ROLES), User.banned_at.is_(None), User.deleted_at.is_(None))
    rows = (
        db.session.execute(select(IdeaSupport).where(IdeaSupport.idea_id == idea.id, IdeaSupport.user_id.in_(members)))
        .scalars()
        .all()
    )
    prices = sorted(r.price_cents for r in rows if r.price_cents is not None)
    buckets: dict[str, int] = {}
    for price in prices:
        low = (price // 5000) * 5000
        label = f"{low}-{low + 4999}"
        buckets[label] = buckets.get(label, 0) + 1
    daily = db.session.execute(
        select(func.date(IdeaSupport.created_at), func.count())
        .where(IdeaSupport.idea_id == idea.id, IdeaSupport.user_id.in_(members))
        .group_by(func.date(IdeaSupport.created_at))
        .order_by(func.date(IdeaSupport.created_at))
    ).all()
    week_ago = now - timedelta(days=7)
    return {
        "idea_id": idea.id,
        "title": idea.title,
        "status": effective_status(idea, now),
        "supporters": len(rows),
        "verified_supporters": sum(1 for r in rows if r.verified),
        "supporters_at_min_level": sum(1 for r in rows if r.supporter_level >= min_level),
        "min_level": min_level,
        "would_buy_units": sum(r.would_buy or 0 for r in rows),
        "would_buy_respondents": sum(1 for r in rows if r.would_buy is not None),
        "would_buy_distribution": {str(k): sum(1 for r in rows if r.would_buy == k) for k in range(0, 11)},
        "price_respondents": len(prices),
        "median_price_cents": int(statistics.median(prices)) if prices else None,
        "price_distribution": buckets,
        "supports_last_7_days": sum(1 for r in rows if r.created_at >= week_ago),
        "velocity": [{"day": str(day), "supports": count} for day, count in daily],
    }


def top_ideas(limit: int, now: datetime) -> list[dict]:
    ranked = db.session.scalars(
        select(Idea)
        .where(Idea.status.in_(("supporting", "qualified", "in_review", "approved")))
        .order_by(counted_column().desc(), Idea.id.desc())
        .limit(limit)
    ).all()
    return [demand(idea.id, current_app.config["IDEA_VERIFIED_MIN_LEVEL"], now) for idea in ranked]


# Reactions


# The handler's persisted name predates the c2b package; renaming it would notify everyone again for old events.
@outbox.subscribe(events.IDEA_UPDATE_POSTED, events.IDEA_STATUS_CHANGED, name="forum.notify_idea_followers")
def _on_idea_news(event: Event) -> None:
    """Supporters hear about the creator's updates and every status change; the creator about status changes. A
    decision reaches them in words, with the product team's feedback."""
    _, idea_id = event.subject
    idea = get_idea(idea_id)
    if event.type == events.IDEA_UPDATE_POSTED.name:
        message = f"你支持的创意「{idea.title}」有新进展：{event.payload.get('title', '')}"
        recipients = supporter_ids(idea_id)
    else:
        status = event.payload["status"]
        message = f"创意「{idea.title}」{STATUS_NEWS.get(status, status)}"
        if status in ("approved", "not_approved") and idea.decision_feedback:
            message += f"。产品团队反馈：{idea.decision_feedback}"
        recipients = [*supporter_ids(idea_id), event.payload["creator_id"]]
    context = {"event_id": event.id, "message": message, "title": idea.title}
    fanout.spread("c2b.idea_news", context, list(dict.fromkeys(recipients)))


# What a status change means to the people who backed the idea.
STATUS_NEWS = {
    "qualified": "已达到支持目标，进入产品评审",
    "in_review": "正在接受产品团队评审",
    "approved": "通过评审，将进入产品化",
    "not_approved": "未通过本轮评审",
    "expired": "未能在期限内达到支持目标",
    "archived": "已归档",
}


@fanout.batch("c2b.idea_news")
def _tell_idea_followers(context: dict[str, Any], member_ids: list[int]) -> None:
    event = db.session.get_one(Event, context["event_id"])
    for user_id in member_ids:
        notify(
            user_id,
            "idea",
            event=event,
            actor_id=event.actor_id,
            subject=event.subject,
            message=context["message"],
            topic="idea_decision" if event.type == events.IDEA_STATUS_CHANGED.name else None,
            title=context.get("title", ""),
        )
