"""WeChat subscribe messages (订阅消息): notices that reach a member outside the mini-program.

WeChat lets a mini-program send a one-time subscribe message only after the member accepted that template in
`wx.requestSubscribeMessage`, once per acceptance. The client reports each acceptance; we keep the count per
template, spend one when a message is queued (a conditional UPDATE, so two notices never spend the same consent)
and never queue without one. Messages are sent later by the workers, in batches, with the shared access token.

Which notices go out, and into which template fields, is configuration: WECHAT_SUBSCRIBE_TEMPLATES maps a topic
to {"template_id": "...", "page": "pages/orders/detail?id={subject_id}", "data": {"thing1": "title",
"thing2": "message", "time3": "time"}}; the data values name what fills each template field.
"""

import json
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User, WeChatIdentity
from forum.wechat import WeChatServerClient
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import DependencyDown
from kernel.sql import insert_if_absent, rows_changed
from kernel.store import current_store
from kernel.unit_of_work import transaction

MAX_CONSENTS = 100  # per template: far beyond what a member grants, a guard against a looping client
MAX_ATTEMPTS = 5
# WeChat's limits on template values by field kind (the name before the digits: thing1, time2, …).
VALUE_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "number": 32, "name": 10, "amount": 20}
# The member refused, or their one-time consent is gone on WeChat's side: do not try again.
NOT_SUBSCRIBED = 43101
GIVE_UP = {NOT_SUBSCRIBED, 40003, 47003, 43107}  # + invalid openid, bad template data, template not allowed


class SubscribeConsent(Model):
    __tablename__ = "wechat_subscribe_consents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscribeMessage(Model):
    __tablename__ = "wechat_subscribe_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(40))
    template_id: Mapped[str] = mapped_column(String(64))
    page: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending → sent | refused (WeChat says the member has no consent) | failed (gave up after MAX_ATTEMPTS)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_wechat_subscribe_messages_status", "status", "id"),)


def templates() -> dict[str, dict[str, Any]]:
    """The configured topics; the setting may be JSON text (from the environment) or a mapping."""
    raw = current_app.config.get("WECHAT_SUBSCRIBE_TEMPLATES") or {}
    configured = json.loads(raw) if isinstance(raw, str) else raw
    return {topic: spec if isinstance(spec, dict) else {"template_id": str(spec)} for topic, spec in configured.items()}


def template_ids() -> set[str]:
    return {spec["template_id"] for spec in templates().values()}


def record_consents(member: User, accepted: list[str]) -> list[str]:
    """The member accepted these templates in `wx.requestSubscribeMessage` (a template accepted twice in one
    call counts twice, as WeChat counts it). Ids that are not (or no longer) configured are ignored and returned:
    a client with an old template list must not fail the member's tap."""
    known = template_ids()
    now = clock.now()
    for template_id in (t for t in accepted if t in known):
        insert_if_absent(
            SubscribeConsent, {"user_id": member.id, "template_id": template_id, "remaining": 0, "updated_at": now}
        )
        db.session.execute(
            update(SubscribeConsent)
            .where(
                SubscribeConsent.user_id == member.id,
                SubscribeConsent.template_id == template_id,
                SubscribeConsent.remaining < MAX_CONSENTS,
            )
            .values(remaining=SubscribeConsent.remaining + 1, updated_at=now)
        )
    return sorted({t for t in accepted if t not in known})


def my_consents(member: User) -> list[SubscribeConsent]:
    return list(
        db.session.scalars(
            select(SubscribeConsent).where(SubscribeConsent.user_id == member.id).order_by(SubscribeConsent.template_id)
        )
    )


def _spend(user_id: int, template_id: str) -> bool:
    spend = update(SubscribeConsent).where(
        SubscribeConsent.user_id == user_id,
        SubscribeConsent.template_id == template_id,
        SubscribeConsent.remaining > 0,
    )
    return rows_changed(spend.values(remaining=SubscribeConsent.remaining - 1, updated_at=clock.now())) == 1


def _value(field: str, text: str) -> str:
    kind = field.rstrip("0123456789")
    limit = VALUE_LIMITS.get(kind, 20)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def queue(
    user_id: int, topic: str, *, title: str, message: str, subject: tuple[str, int] | None
) -> SubscribeMessage | None:
    """Queue a message for the topic if it has a template and the member a consent left (spending it)."""
    spec = templates().get(topic)
    if spec is None:
        return None
    has_openid = db.session.scalar(select(WeChatIdentity.id).where(WeChatIdentity.user_id == user_id))
    if has_openid is None or not _spend(user_id, spec["template_id"]):
        return None
    now = clock.now()
    values = {
        "title": title or message,
        "message": message,
        "time": now.astimezone(clock.community_zone()).strftime("%Y-%m-%d %H:%M"),
    }
    fields = spec.get("data") or {"thing1": "title", "thing2": "message"}
    page = str(spec.get("page", "")).replace("{subject_id}", str(subject[1]) if subject else "")
    message_row = SubscribeMessage(
        user_id=user_id,
        topic=topic,
        template_id=spec["template_id"],
        page=page[:200],
        data={field: {"value": _value(field, values.get(source, ""))} for field, source in fields.items()},
        status="pending",
        attempts=0,
        error="",
        created_at=now,
    )
    db.session.add(message_row)
    return message_row


def server_client() -> WeChatServerClient:
    cfg = current_app.config
    return WeChatServerClient(
        cfg["WECHAT_API_BASE"], cfg["WECHAT_APPID"], cfg["WECHAT_SECRET"], current_store(), cfg["WECHAT_TIMEOUT"]
    )


def send_pending(client: WeChatServerClient, limit: int = 200) -> tuple[int, int]:
    """Send up to `limit` queued messages; returns (sent, not sent). Each message is its own unit of work, locked
    while it is sent (SKIP LOCKED on PostgreSQL), so two workers never send one message twice."""
    sent = unsent = 0
    ids = db.session.scalars(
        select(SubscribeMessage.id)
        .where(SubscribeMessage.status == "pending")
        .order_by(SubscribeMessage.id)
        .limit(limit)
    ).all()
    for message_id in ids:
        with transaction():
            message = db.session.scalar(
                select(SubscribeMessage)
                .where(SubscribeMessage.id == message_id, SubscribeMessage.status == "pending")
                .with_for_update(skip_locked=True)
            )
            if message is None:
                continue  # another worker has it
            if _deliver(client, message):
                sent += 1
            else:
                unsent += 1
    return sent, unsent


def _deliver(client: WeChatServerClient, message: SubscribeMessage) -> bool:
    openid = db.session.scalar(select(WeChatIdentity.openid).where(WeChatIdentity.user_id == message.user_id))
    message.attempts += 1
    if openid is None:
        message.status, message.error = "failed", "no WeChat identity"
        return False
    try:
        result = client.send_subscribe_message(
            openid=openid, template_id=message.template_id, page=message.page, data=message.data
        )
    except DependencyDown as exc:
        result_code, result_text = -1, exc.code
    else:
        result_code, result_text = result.errcode, result.errmsg
    if result_code == 0:
        message.status, message.sent_at, message.error = "sent", clock.now(), ""
        return True
    message.error = f"{result_code} {result_text}"[:200]
    if result_code == NOT_SUBSCRIBED:
        message.status = "refused"
        # WeChat knows better than our count: the member has no consent left for this template.
        db.session.execute(
            update(SubscribeConsent)
            .where(SubscribeConsent.user_id == message.user_id, SubscribeConsent.template_id == message.template_id)
            .values(remaining=0, updated_at=clock.now())
        )
    elif result_code in GIVE_UP or message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
    return False
