"""Personal-data export (PIPL art. 45): a member asks, a job gathers what the community holds about them into a
JSON file or a ZIP of JSON files, and a short-lived signed link hands it over. Files are kept a few days."""

import hmac
import io
import json
import secrets
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from c2b.addresses import Address
from c2b.ideas import Idea, IdeaComment, IdeaSupport
from c2b.polls import PollVote
from c2b.presale import Order
from economy.ledger import Account, Entry, LedgerTransaction
from forum.members import User, WeChatIdentity
from forum.phones import phone_of
from forum.policies import PolicyAcceptance
from forum.posts import Post
from forum.replies import Reply
from forum.subscribe_messages import SubscribeConsent
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, NotFound
from kernel.pagination import Page, keyset_page
from kernel.signing import link_signature
from kernel.sql import get_or_404
from kernel.unit_of_work import transaction
from operations.tags import MemberTag

FORMATS = ("json", "zip")


class DataExport(Model):
    __tablename__ = "data_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(8), default="pending")  # pending → ready → expired
    file_name: Mapped[str] = mapped_column(String(80), default="")  # random, under DATA_EXPORT_ROOT
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _root() -> Path:
    return Path(current_app.config["DATA_EXPORT_ROOT"])


def request_export(member: User, fmt: str) -> DataExport:
    """One export in preparation at a time: asking again returns it."""
    pending = db.session.scalar(
        select(DataExport).where(DataExport.user_id == member.id, DataExport.status == "pending")
    )
    if pending is not None:
        return pending
    export = DataExport(
        user_id=member.id, format=fmt, status="pending", file_name="", size_bytes=0, created_at=clock.now()
    )
    db.session.add(export)
    db.session.flush()
    return export


def my_exports(member: User, limit: int, cursor: str | None) -> Page[DataExport]:
    """Newest first (expired ones stay listed, without their file)."""
    return keyset_page(select(DataExport).where(DataExport.user_id == member.id), [DataExport.id], limit, cursor)


def own_export(member: User, export_id: int) -> DataExport:
    return get_or_404(DataExport, export_id, "data_export", visible=lambda e: e.user_id == member.id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def collect(user_id: int) -> dict[str, list[dict[str, Any]] | dict[str, Any]]:
    """Everything the community holds about one member, section by section."""
    user = db.session.get_one(User, user_id)
    identity = db.session.scalar(select(WeChatIdentity).where(WeChatIdentity.user_id == user_id))
    account = db.session.scalar(select(Account).where(Account.user_id == user_id))

    def rows(model, *order) -> list:
        return list(db.session.scalars(select(model).where(model.user_id == user_id).order_by(*order)))

    return {
        "profile": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "bio": user.bio,
            "region": user.region,
            "level": user.level,
            "role": user.role,
            "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
            "phone": phone_of(user_id),
            "wechat": {"openid": identity.openid, "unionid": identity.unionid} if identity else None,
            "points_balance": account.balance if account else 0,
            "contribution": account.contribution if account else 0,
        },
        "posts": [
            {
                "id": p.id,
                "board_id": p.board_id,
                "title": p.title,
                "body": p.body,
                "status": p.status,
                "created_at": _iso(p.created_at),
            }
            for p in db.session.scalars(select(Post).where(Post.author_id == user_id).order_by(Post.id))
        ],
        "replies": [
            {"id": r.id, "post_id": r.post_id, "body": r.body, "status": r.status, "created_at": _iso(r.created_at)}
            for r in db.session.scalars(select(Reply).where(Reply.author_id == user_id).order_by(Reply.id))
        ],
        "ideas": [
            {
                "id": i.id,
                "title": i.title,
                "description": i.description,
                "status": i.status,
                "created_at": _iso(i.created_at),
            }
            for i in db.session.scalars(select(Idea).where(Idea.creator_id == user_id).order_by(Idea.id))
        ],
        "idea_comments": [
            {"id": c.id, "idea_id": c.idea_id, "body": c.body, "created_at": _iso(c.created_at)}
            for c in db.session.scalars(select(IdeaComment).where(IdeaComment.author_id == user_id))
        ],
        "supports": [
            {
                "idea_id": s.idea_id,
                "would_buy": s.would_buy,
                "price_cents": s.price_cents,
                "created_at": _iso(s.created_at),
            }
            for s in rows(IdeaSupport, IdeaSupport.idea_id)
        ],
        "poll_votes": [
            {"poll_id": v.poll_id, "option_id": v.option_id, "created_at": _iso(v.created_at)}
            for v in rows(PollVote, PollVote.poll_id)
        ],
        "ledger": _ledger(account.id) if account else [],
        "orders": [
            {
                "id": o.id,
                "campaign_id": o.campaign_id,
                "sku": o.option.sku,
                "quantity": o.quantity,
                "amount_cents": o.amount_cents,
                "balance_cents": o.balance_cents,
                "currency": o.currency,
                "status": o.status,
                "ship_to": o.ship_to,
                "shipment_status": o.shipment_status,
                "tracking_no": o.tracking_no,
                "created_at": _iso(o.created_at),
            }
            for o in rows(Order, Order.id)
        ],
        "addresses": [{"id": a.id, **a.as_dict(), "is_default": a.is_default} for a in rows(Address, Address.id)],
        "interest_tags": [{"tag": t.tag, "kind": t.kind} for t in rows(MemberTag, MemberTag.id)],
        "consents": {
            "policies": [
                {"policy": p.policy, "version": p.version, "accepted_at": _iso(p.accepted_at)}
                for p in rows(PolicyAcceptance, PolicyAcceptance.accepted_at)
            ],
            "wechat_subscriptions": [
                {"template_id": c.template_id, "remaining": c.remaining}
                for c in rows(SubscribeConsent, SubscribeConsent.template_id)
            ],
        },
    }


def _ledger(account_id: int) -> list[dict[str, Any]]:
    found = db.session.execute(
        select(Entry, LedgerTransaction)
        .join(LedgerTransaction, LedgerTransaction.id == Entry.transaction_id)
        .where(Entry.account_id == account_id)
        .order_by(Entry.id)
    ).all()
    return [
        {
            "transaction_id": t.id,
            "measure": e.measure,
            "amount": e.amount,
            "source": t.source,
            "memo": t.memo,
            "reason": t.reason_code,
            "created_at": _iso(e.created_at),
        }
        for e, t in found
    ]


def _render(data: dict, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=1).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for section, content in data.items():
            archive.writestr(f"{section}.json", json.dumps(content, ensure_ascii=False, indent=1))
    return buffer.getvalue()


def prepare_pending(now: datetime, limit: int = 20) -> int:
    """Write the files of waiting exports; each in its own unit of work."""
    ids = db.session.scalars(
        select(DataExport.id).where(DataExport.status == "pending").order_by(DataExport.id).limit(limit)
    ).all()
    done = 0
    for export_id in ids:
        with transaction():
            export = db.session.get(DataExport, export_id, with_for_update=True, populate_existing=True)
            if export is None or export.status != "pending":
                continue
            payload = _render(collect(export.user_id), export.format)
            name = f"{secrets.token_hex(16)}.{export.format}"
            _root().mkdir(parents=True, exist_ok=True)
            (_root() / name).write_bytes(payload)
            export.status, export.file_name, export.size_bytes = "ready", name, len(payload)
            export.ready_at = now
            export.expires_at = now + timedelta(days=current_app.config["DATA_EXPORT_KEEP_DAYS"])
            done += 1
    return done


def purge_expired(now: datetime) -> int:
    expired = db.session.scalars(
        select(DataExport).where(DataExport.status == "ready", DataExport.expires_at <= now)
    ).all()
    for export in expired:
        _discard(export)
        export.status = "expired"
    return len(expired)


def discard_files(user_id: int) -> None:
    for export in db.session.scalars(select(DataExport).where(DataExport.user_id == user_id)):
        _discard(export)


def _discard(export: DataExport) -> None:
    if export.file_name:
        (_root() / export.file_name).unlink(missing_ok=True)
        export.file_name = ""


# The link: /data-exports/{id}/download?expires=<unix>&signature=<hex>, signed with the SECRET_KEY; it works
# without signing in (a browser can open it) until it expires, and only for that file.


def _signature(export: DataExport, expires: int) -> str:
    return link_signature("data-export", export.id, export.file_name, expires)


def download_link(export: DataExport, now: datetime) -> dict[str, Any] | None:
    if export.status != "ready":
        return None
    expires = int((now + timedelta(minutes=current_app.config["DATA_EXPORT_LINK_MINUTES"])).timestamp())
    return {
        "url": f"/api/v1/data-exports/{export.id}/download?expires={expires}&signature={_signature(export, expires)}",
        "expires_at": datetime.fromtimestamp(expires, tz=now.tzinfo),
    }


def open_download(export_id: int, expires: int, signature: str, now: datetime) -> tuple[Path, str]:
    """The file behind a link, if the link is genuine and still valid; (path, download name)."""
    export = db.session.get(DataExport, export_id)
    genuine = export is not None and hmac.compare_digest(_signature(export, expires), signature)
    if not genuine or export is None or export.status != "ready":
        raise NotFound("no such download", code="download_not_found")
    if expires < now.timestamp():
        raise Conflict("the link has expired, ask for a new one", code="download_link_expired")
    path = _root() / export.file_name
    if not path.is_file():
        raise NotFound("the file is gone, ask for a new export", code="download_not_found")
    return path, f"community-data-{export.user_id}.{export.format}"
