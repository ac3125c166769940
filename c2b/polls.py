"""Sample polls: the product team shows 2-8 candidate samples; eligible members vote once; results are live."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Select, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from c2b import events
from c2b.ideas import get_idea
from forum.media import Media, owned_media
from forum.members import User
from kernel import audit, clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, insert_if_absent, one_of, rows_changed


class SamplePoll(Model):
    __tablename__ = "sample_polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("ideas.id"))
    min_level: Mapped[int] = mapped_column(Integer, default=1)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    options: Mapped[list["PollOption"]] = relationship(order_by="PollOption.position", lazy="selectin")

    def is_open(self, now: datetime) -> bool:
        return now < self.closes_at


class PollOption(Model):
    __tablename__ = "poll_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("sample_polls.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[int | None] = mapped_column(ForeignKey("media.id"))
    position: Mapped[int] = mapped_column(Integer)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    # Joined to the options' own load: a poll shows every option's image.
    image: Mapped[Media | None] = relationship(lazy="joined", viewonly=True)


class PollVote(Model):
    __tablename__ = "poll_votes"

    poll_id: Mapped[int] = mapped_column(ForeignKey("sample_polls.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def create_poll(
    actor: User,
    *,
    title: str,
    description: str,
    closes_at: datetime,
    options: list[dict],
    idea_id: int | None = None,
    min_level: int = 1,
) -> SamplePoll:
    actor.ensure_role("product", doing="run sample polls")
    if not 2 <= len(options) <= 8:
        raise ValidationFailed("a poll has 2 to 8 samples", details={"options": ["2 to 8"]})
    if closes_at <= clock.now():
        raise ValidationFailed("the poll must close in the future", details={"closes_at": ["in the future"]})
    if idea_id is not None:
        get_idea(idea_id)
    poll = SamplePoll(
        title=title.strip(),
        description=description.strip(),
        idea_id=idea_id,
        min_level=min_level,
        closes_at=closes_at,
        vote_count=0,
        created_by=actor.id,
        created_at=clock.now(),
    )
    db.session.add(poll)
    db.session.flush()
    images = owned_media(actor, [o["image_id"] for o in options if o.get("image_id")])
    by_id = {m.id: m for m in images}
    for position, option in enumerate(options):
        db.session.add(
            PollOption(
                poll_id=poll.id,
                name=option["name"].strip(),
                description=option.get("description", "").strip(),
                image_id=by_id[option["image_id"]].id if option.get("image_id") else None,
                position=position,
                vote_count=0,
            )
        )
    db.session.flush()
    db.session.refresh(poll)
    outbox.emit(
        events.POLL_OPENED,
        actor_id=actor.id,
        subject=("poll", poll.id),
        payload={"idea_id": idea_id, "title": poll.title},
    )
    audit.record(actor, "poll.create", "poll", poll.id)
    return poll


def close_early(actor: User, poll_id: int, now: datetime) -> SamplePoll:
    """The product team has seen enough: the poll closes now, its results stand."""
    actor.ensure_role("product", doing="run sample polls")
    poll = get_poll(poll_id)
    closing = update(SamplePoll).where(SamplePoll.id == poll.id, SamplePoll.closes_at > now)
    if rows_changed(closing.values(closes_at=now)) != 1:
        raise Conflict("this poll has closed", code="poll_closed")
    db.session.refresh(poll)
    audit.record(actor, "poll.close", "poll", poll.id)
    return poll


def get_poll(poll_id: int) -> SamplePoll:
    return get_or_404(SamplePoll, poll_id, "poll")


def vote(member: User, poll_id: int, option_id: int, now: datetime) -> PollVote:
    poll = get_poll(poll_id)
    if not poll.is_open(now):
        raise Conflict("this poll has closed", code="poll_closed")
    if member.level < poll.min_level:
        raise Forbidden(
            "your level is too low to vote here", code="level_too_low", details={"min_level": poll.min_level}
        )
    if option_id not in {o.id for o in poll.options}:
        raise ValidationFailed("not an option of this poll", details={"option_id": ["unknown option"]})
    inserted = insert_if_absent(
        PollVote, {"poll_id": poll.id, "user_id": member.id, "option_id": option_id, "created_at": now}
    )
    if not inserted:
        raise Conflict("you already voted in this poll", code="already_voted")
    db.session.execute(
        update(PollOption).where(PollOption.id == option_id).values(vote_count=PollOption.vote_count + 1)
    )
    db.session.execute(update(SamplePoll).where(SamplePoll.id == poll.id).values(vote_count=SamplePoll.vote_count + 1))
    return db.session.get_one(PollVote, (poll.id, member.id))


def my_votes(member: User | None, poll_ids: list[int]) -> dict[int, int]:
    """The option the member chose in each of these polls they voted in, by poll: one query for a list."""
    if member is None or not poll_ids:
        return {}
    rows = db.session.execute(
        select(PollVote.poll_id, PollVote.option_id).where(
            PollVote.user_id == member.id, one_of(PollVote.poll_id, "poll_ids")
        ),
        {"poll_ids": poll_ids},
    )
    return {poll_id: option_id for poll_id, option_id in rows}


def list_polls(idea_id: int) -> list[SamplePoll]:
    """An idea's polls, newest first (an idea's page shows them all: a product team runs a few per idea)."""
    return list(db.session.scalars(_polls(idea_id).order_by(SamplePoll.id.desc())))


def polls_page(idea_id: int | None, limit: int, cursor: str | None) -> Page[SamplePoll]:
    """Every poll, or one idea's, newest first."""
    return keyset_page(_polls(idea_id), [SamplePoll.id], limit, cursor)


def _polls(idea_id: int | None) -> Select[SamplePoll]:
    query = select(SamplePoll)
    return query if idea_id is None else query.where(SamplePoll.idea_id == idea_id)
