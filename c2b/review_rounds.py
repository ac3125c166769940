"""Review rounds, as LEGO Ideas runs them a few times a year: the product team opens a round with a cut-off; the
ideas that qualified by the cut-off are reviewed in it; approvals and refusals wait, unseen, and are published
together when the round ends. Members see each idea's round and its dates."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from c2b import ideas
from c2b.ideas import Idea
from forum.members import User
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, move_or_refuse, rows_changed
from kernel.unit_of_work import transaction

HELD_DECISIONS = ("approve", "not_approve")


class ReviewRound(Model):
    __tablename__ = "review_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime)  # ideas qualified by then are in the round
    results_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when its decisions are published
    state: Mapped[str] = mapped_column(String(12), default="open")  # open → published
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def open_round(actor: User, name: str, cutoff_at: datetime, results_at: datetime) -> ReviewRound:
    actor.ensure_role("product", doing="run review rounds")
    if results_at <= cutoff_at:
        raise ValidationFailed("results come after the cut-off", details={"results_at": ["after cutoff_at"]})
    if current_round() is not None:
        raise Conflict("a review round is already open", code="round_open")
    now = clock.now()
    review_round = ReviewRound(
        name=name.strip(), cutoff_at=cutoff_at, results_at=results_at, state="open", created_by=actor.id, created_at=now
    )
    db.session.add(review_round)
    db.session.flush()
    join_open_round(now)
    audit.record(actor, "review_round.open", "review_round", review_round.id, name.strip())
    return review_round


def current_round() -> ReviewRound | None:
    return db.session.scalar(select(ReviewRound).where(ReviewRound.state == "open"))


def join_open_round(now: datetime) -> int:
    """Qualified ideas not yet in a round join the open one when they qualified by its cut-off."""
    review_round = current_round()
    if review_round is None:
        return 0
    return rows_changed(
        update(Idea)
        .where(
            Idea.review_round_id.is_(None),
            Idea.status.in_(("qualified", "in_review")),
            Idea.qualified_at <= review_round.cutoff_at,
        )
        .values(review_round_id=review_round.id)
        .execution_options(synchronize_session=False)
    )


def get_round(round_id: int) -> ReviewRound:
    return get_or_404(ReviewRound, round_id, "review_round")


def list_rounds(limit: int, cursor: str | None) -> Page[ReviewRound]:
    """Newest first."""
    return keyset_page(select(ReviewRound), [ReviewRound.id], limit, cursor)


def decide(actor: User, idea_id: int, decision: str, feedback: str) -> Idea:
    """A decision on an idea. In an open round, approvals and refusals are recorded and wait for the round's
    publication (nobody learns one before the others); everything else takes effect at once."""
    join_open_round(clock.now())  # an idea that qualified by the cut-off is in the round, even just now
    idea = ideas.get_idea(idea_id)
    db.session.refresh(idea)
    review_round = db.session.get(ReviewRound, idea.review_round_id) if idea.review_round_id else None
    if decision not in HELD_DECISIONS or review_round is None or review_round.state != "open":
        return ideas.decide(actor, idea_id, decision, feedback)
    actor.ensure_role("product", doing="decide on ideas")
    if idea.status != "in_review":
        raise Conflict("start the review first", code="invalid_transition", details={"status": idea.status})
    if not feedback.strip():
        raise ValidationFailed("tell the community why", details={"feedback": ["required"]})
    idea.pending_decision, idea.decision_feedback = decision, feedback.strip()
    audit.record(actor, f"idea.{decision}", "idea", idea.id, feedback.strip(), review_round=review_round.id)
    return idea


def publish(round_id: int, actor: User | None, now: datetime) -> ReviewRound:
    """Publish a round's decisions together (staff, or the job at `results_at`); safe to repeat."""
    if actor is not None:
        actor.ensure_role("product", doing="run review rounds")
    review_round = get_round(round_id)
    if review_round.state == "published":
        return review_round
    if actor is None and now < review_round.results_at:
        raise Conflict("the round's results are not due yet", code="round_not_due")
    move_or_refuse(
        review_round, "published", sources=("open",), column="state", what="a review round", published_at=now
    )
    held = db.session.scalars(
        select(Idea).where(Idea.review_round_id == review_round.id, Idea.pending_decision != "").order_by(Idea.id)
    ).all()
    for idea in held:
        decision, feedback = idea.pending_decision, idea.decision_feedback
        idea.pending_decision = ""
        ideas.apply_decision(idea, decision, feedback, actor_id=actor.id if actor else None)
    audit.record(actor, "review_round.publish", "review_round", review_round.id, decisions=len(held))
    return review_round


def publish_due(now: datetime) -> int:
    due = db.session.scalars(
        select(ReviewRound.id).where(ReviewRound.state == "open", ReviewRound.results_at <= now)
    ).all()
    for round_id in due:
        with transaction():
            publish(round_id, None, now)
    return len(due)
