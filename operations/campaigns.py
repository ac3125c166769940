"""Experience-officer campaigns (新品体验官): apply once → selection → 14 days of check-ins and shares → rewards.

When more qualified members apply than there are places, the places left after the operator's own picks are
drawn at random with a recorded seed: anyone can re-run the draw from the seed and the applicant list. Members not
selected get the operator tag "curious about new products". Rewards flow through the ledger's earning rules
(campaign_checkin, share_approved) from the events emitted here.
"""

import random
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.orm import Mapped, mapped_column

from forum.media import owned_media
from forum.members import User
from forum.notifications import notify
from kernel import audit, clock, fanout, outbox
from kernel.clock import community_day
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, Forbidden, ValidationFailed
from kernel.outbox import Event
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, insert_if_absent, move, rows_changed
from moderation import queue
from operations import events, segments, tags

URL_RE = re.compile(r"^https?://[^\s]{4,500}$")


class Campaign(Model):
    __tablename__ = "officer_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    product_name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    slots: Mapped[int] = mapped_column(Integer)
    checkin_days: Mapped[int] = mapped_column(Integer, default=14)
    apply_closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="recruiting")  # recruiting → running → completed
    selection_seed: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Application(Model):
    __tablename__ = "officer_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("officer_campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(14), default="applied")  # applied → selected | not_selected
    checkin_count: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("campaign_id", "user_id", name="uq_officer_applications_once"),)


class CampaignCheckin(Model):
    __tablename__ = "officer_checkins"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("officer_campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[Any] = mapped_column(Date, primary_key=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Share(Model):
    __tablename__ = "officer_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("officer_campaigns.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500))
    screenshot_id: Mapped[int] = mapped_column(ForeignKey("media.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending → approved | rejected
    review_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_officer_shares_campaign", "campaign_id", "status"),)


def create(actor: User, **fields) -> Campaign:
    actor.ensure_role("operator", doing="run experience-officer campaigns")
    keys = [q["key"] for q in fields.get("questions", [])]
    if len(keys) != len(set(keys)):
        raise ValidationFailed("question keys must be unique", details={"questions": ["duplicate key"]})
    campaign = Campaign(**fields, status="recruiting", created_by=actor.id, created_at=clock.now())
    db.session.add(campaign)
    db.session.flush()
    audit.record(actor, "campaign.create", "campaign", campaign.id, title=campaign.title)
    return campaign


def get(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id, "campaign")


def list_all(limit: int, cursor: str | None) -> Page[Campaign]:
    """Newest first."""
    return keyset_page(select(Campaign), [Campaign.id], limit, cursor)


def invite(actor: User, campaign_id: int) -> int:
    """Tell every member of the audience segment about the campaign (the flash group)."""
    actor.ensure_role("operator", doing="run experience-officer campaigns")
    campaign = get(campaign_id)
    invited = len(segments.all_members(campaign.audience))
    outbox.emit(events.CAMPAIGN_INVITED, actor_id=actor.id, subject=("campaign", campaign.id), payload={})
    audit.record(actor, "campaign.invite", "campaign", campaign.id, invited=invited)
    return invited


@outbox.subscribe(events.CAMPAIGN_INVITED, name="operations.campaign_invitations")
def _send_invitations(event: Event) -> None:
    campaign = get(event.subject[1])
    audience = [member.id for member in segments.all_members(campaign.audience)]
    fanout.spread("operations.campaign_invitations", {"event_id": event.id}, audience)


@fanout.batch("operations.campaign_invitations")
def _invite_batch(context: dict[str, Any], member_ids: list[int]) -> None:
    event = db.session.get_one(Event, context["event_id"])
    campaign = get(event.subject[1])
    for user_id in member_ids:
        notify(user_id, "system", event=event, subject=event.subject, message=f"邀请你报名新品体验官：{campaign.title}")


def _check_answers(campaign: Campaign, answers: dict[str, Any]) -> dict[str, Any]:
    errors, cleaned = {}, {}
    for question in campaign.questions:
        key, value = question["key"], answers.get(question["key"])
        if value is None or value == "":
            if question.get("required", True):
                errors[key] = ["required"]
            continue
        kind = question.get("type", "text")
        if kind == "number" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors[key] = ["a whole number ≥ 0"]
        elif kind == "choice" and value not in question.get("options", []):
            errors[key] = [f"one of {question.get('options', [])}"]
        elif kind == "text" and (not isinstance(value, str) or len(value) > 2000):
            errors[key] = ["text up to 2000 characters"]
        else:
            cleaned[key] = value
    unknown = set(answers) - {q["key"] for q in campaign.questions}
    if unknown:
        errors["_unknown"] = sorted(unknown)
    if errors:
        raise ValidationFailed("the application form is not complete", details={"answers": errors})
    return cleaned


def apply(member: User, campaign_id: int, answers: dict[str, Any], now: datetime) -> Application:
    campaign = get(campaign_id)
    if campaign.status != "recruiting" or now >= campaign.apply_closes_at:
        raise Conflict("applications are closed", code="applications_closed")
    if not segments.matches(member, campaign.audience):
        raise Forbidden("this campaign is for an invited group", code="not_in_audience")
    cleaned = _check_answers(campaign, answers)
    created = insert_if_absent(
        Application,
        {
            "campaign_id": campaign.id,
            "user_id": member.id,
            "answers": cleaned,
            "status": "applied",
            "checkin_count": 0,
            "created_at": now,
        },
    )
    if not created:
        raise Conflict("you already applied", code="already_applied")
    return db.session.execute(
        select(Application).where(Application.campaign_id == campaign.id, Application.user_id == member.id)
    ).scalar_one()


def draw(applicant_ids: list[int], places: int, seed: str) -> list[int]:
    """The seeded draw: deterministic for a seed and an applicant list, so it can be audited afterwards."""
    pool = sorted(applicant_ids)
    random.Random(seed).shuffle(pool)
    return sorted(pool[:places])


def select_officers(actor: User, campaign_id: int, picks: list[int], now: datetime) -> Campaign:
    actor.ensure_role("operator", doing="run experience-officer campaigns")
    campaign = get(campaign_id)
    moved = rows_changed(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "recruiting")
        .values(status="running", started_at=now)
    )
    if moved != 1:
        raise Conflict("selection has already happened", code="already_selected")
    applicants = list(db.session.scalars(select(Application.user_id).where(Application.campaign_id == campaign.id)))
    unknown = [p for p in picks if p not in applicants]
    if unknown or len(picks) > campaign.slots:
        raise ValidationFailed("picks must be applicants, within the places", details={"user_ids": unknown or picks})
    remaining = [a for a in applicants if a not in picks]
    seed = secrets.token_hex(16)
    drawn = (
        draw(remaining, campaign.slots - len(picks), seed)
        if len(remaining) > campaign.slots - len(picks)
        else remaining
    )
    chosen = set(picks) | set(drawn)
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(selection_seed=seed))
    for application in db.session.scalars(select(Application).where(Application.campaign_id == campaign.id)):
        if application.user_id in chosen:
            application.status = "selected"
            notify(
                application.user_id,
                "system",
                subject=("campaign", campaign.id),
                message=f"恭喜入选「{campaign.title}」体验官！请连续打卡 {campaign.checkin_days} 天",
            )
        else:
            application.status = "not_selected"
            tags.add_operator_tag(application.user_id, tags.CURIOUS, by=actor.id)
            notify(
                application.user_id,
                "system",
                subject=("campaign", campaign.id),
                message=f"感谢报名「{campaign.title}」，本次未入选，我们会优先邀请你参加后续活动",
            )
    audit.record(
        actor,
        "campaign.select",
        "campaign",
        campaign.id,
        "",
        seed=seed,
        picks=sorted(picks),
        drawn=sorted(drawn),
        applicants=len(applicants),
    )
    db.session.refresh(campaign)
    return campaign


def _officer(member: User, campaign: Campaign) -> Application:
    application = db.session.scalar(
        select(Application).where(Application.campaign_id == campaign.id, Application.user_id == member.id)
    )
    if application is None or application.status != "selected":
        raise Forbidden("only selected experience officers can do this", code="not_selected")
    return application


def check_in(member: User, campaign_id: int, note: str, now: datetime) -> Application:
    campaign = get(campaign_id)
    application = _officer(member, campaign)
    started = campaign.started_at
    if campaign.status != "running" or started is None or now >= started + timedelta(days=campaign.checkin_days):
        raise Conflict("the check-in period is over", code="checkin_period_over")
    day = community_day(now)
    if not insert_if_absent(
        CampaignCheckin,
        {"campaign_id": campaign.id, "user_id": member.id, "day": day, "note": note.strip()[:500], "created_at": now},
    ):
        raise Conflict("already checked in today", code="already_checked_in")
    db.session.execute(
        update(Application).where(Application.id == application.id).values(checkin_count=Application.checkin_count + 1)
    )
    db.session.refresh(application)
    outbox.emit(
        events.CAMPAIGN_CHECKIN,
        actor_id=member.id,
        subject=("campaign", campaign.id),
        payload={"day": day.isoformat(), "count": application.checkin_count},
    )
    if application.checkin_count >= campaign.checkin_days and application.completed_at is None:
        application.completed_at = now
        outbox.emit(
            events.CAMPAIGN_COMPLETED,
            actor_id=member.id,
            subject=("campaign", campaign.id),
            payload={"member_id": member.id},
        )
    return application


def submit_share(member: User, campaign_id: int, url: str, screenshot_id: int, now: datetime) -> Share:
    campaign = get(campaign_id)
    _officer(member, campaign)
    if not URL_RE.fullmatch(url.strip()):
        raise ValidationFailed("a share needs a web link", details={"url": ["http(s) link"]})
    owned_media(member, [screenshot_id])
    share = Share(
        campaign_id=campaign.id,
        user_id=member.id,
        url=url.strip(),
        screenshot_id=screenshot_id,
        status="pending",
        review_reason="",
        created_at=now,
    )
    db.session.add(share)
    db.session.flush()
    queue.enqueue("share", share.id, reason="share", author_id=member.id, campaign_id=campaign.id)
    return share


def review_share(actor: User, share_id: int, approve: bool, reason: str) -> Share:
    actor.ensure_role("operator", doing="run experience-officer campaigns")
    share = get_or_404(Share, share_id, "share")
    if not approve and not reason.strip():
        raise ValidationFailed("say why", details={"reason": ["required to reject"]})
    if not move(share, "approved" if approve else "rejected", sources=("pending",), review_reason=reason.strip()):
        raise Conflict("this share was already reviewed", code="already_reviewed")
    queue.resolve("share", share.id, actor, "approved" if approve else "rejected", reason.strip())
    if approve:
        outbox.emit(
            events.SHARE_APPROVED,
            actor_id=actor.id,
            subject=("share", share.id),
            payload={"member_id": share.user_id, "campaign_id": share.campaign_id},
        )
    notify(
        share.user_id,
        "system",
        actor_id=actor.id,
        subject=("share", share.id),
        message="你的体验分享已通过审核" if approve else f"你的体验分享未通过：{reason.strip()}",
    )
    audit.record(actor, "share.approve" if approve else "share.reject", "share", share.id, reason.strip())
    return share


def my_application(member: User, campaign_id: int) -> Application | None:
    return db.session.scalar(
        select(Application).where(Application.campaign_id == campaign_id, Application.user_id == member.id)
    )


def applications(actor: User, campaign_id: int, limit: int, cursor: str | None) -> Page[Application]:
    """In the order they came."""
    actor.ensure_role("operator", doing="run experience-officer campaigns")
    get(campaign_id)
    query = select(Application).where(Application.campaign_id == campaign_id)
    return keyset_page(query, [Application.id], limit, cursor, descending=False)


def shares_of(campaign_id: int, status: str | None, limit: int, cursor: str | None) -> Page[Share]:
    """In the order they came."""
    get(campaign_id)
    query = select(Share).where(Share.campaign_id == campaign_id)
    if status:
        query = query.where(Share.status == status)
    return keyset_page(query, [Share.id], limit, cursor, descending=False)
