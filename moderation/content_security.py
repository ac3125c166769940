"""WeChat content security for what members publish, on top of the local word filter.

Text goes to `msgSecCheck` (v2) with the author's openid and a scene; its verdict decides: `risky` is refused (422
`content_risky`), `review` is held in the review queue, `pass` goes on. Images go to `mediaCheckAsync`; the verdict
arrives later as a push event (see `wechat_push`), and until then the image is not shown. A WeChat outage holds the
content for review; nothing is published unchecked. Without WeChat configured (the embedded default), or for a
member without a WeChat identity, the local word filter alone applies.
"""

import hmac
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from forum.media import Media
from forum.members import User, WeChatIdentity
from forum.posts import Post, PostImage, set_post_status
from forum.subscribe_messages import server_client
from forum.wechat import WeChatServerClient
from kernel import audit, clock
from kernel.db import db
from kernel.errors import DependencyDown, ValidationFailed
from kernel.signing import link_signature
from kernel.sql import rows_changed
from moderation import queue

# msgSecCheck v2 scenes.
SCENES = {"profile": 1, "comment": 2, "forum": 3, "social": 4}
# What a text check can say; "unavailable" is ours: WeChat could not be asked.
PASS, REVIEW, RISKY, UNAVAILABLE = "pass", "review", "risky", "unavailable"
HIDDEN_IMAGE_STATES = ("pending", "review", "risky")


def enabled() -> bool:
    cfg = current_app.config
    return bool(cfg["CONTENT_SECURITY"] and cfg["WECHAT_APPID"] and cfg["WECHAT_SECRET"])


def _openid(member: User) -> str | None:
    return db.session.scalar(select(WeChatIdentity.openid).where(WeChatIdentity.user_id == member.id))


def _client() -> WeChatServerClient:
    return server_client()


def check_text(author: User, scene: str, **fields: str | None) -> str:
    """WeChat's verdict on the member's text: pass, review, risky or unavailable."""
    texts = [text for text in fields.values() if text and text.strip()]
    openid = _openid(author) if enabled() and texts else None
    if openid is None:
        return PASS  # the local filter alone
    body = {"content": "\n".join(texts), "version": 2, "scene": SCENES[scene], "openid": openid}
    try:
        answer = _client().call("/wxa/msg_sec_check", body)
    except DependencyDown:
        return UNAVAILABLE
    suggest = (answer.get("result") or {}).get("suggest")
    if int(answer.get("errcode") or 0) or suggest not in (PASS, REVIEW, RISKY):
        return UNAVAILABLE
    return suggest


def refuse_risky(verdict: str) -> None:
    if verdict == RISKY:
        raise ValidationFailed(
            "this content cannot be published", code="content_risky", details={"content": ["refused by the check"]}
        )


def hold_reason(verdict: str) -> str | None:
    """The review-queue reason a verdict holds content for, or None to publish."""
    return {REVIEW: "wechat", UNAVAILABLE: "wechat"}.get(verdict)


# Images


def check_signature(media_id: int, expires: int) -> str:
    return link_signature("media-check", media_id, expires)


def can_fetch_for_check(media_id: int, expires: int, signature: str) -> bool:
    genuine = hmac.compare_digest(check_signature(media_id, expires), signature)
    return genuine and expires >= clock.now().timestamp()


def _check_url(media: Media) -> str:
    # WeChat fetches the held image through this signed URL; it works for an hour, then the image is hidden again.
    expires = int((clock.now() + timedelta(hours=1)).timestamp())
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/api/v1/media/{media.id}?expires={expires}&check={check_signature(media.id, expires)}"


def submit_image(owner: User, media: Media) -> None:
    """Hold a new upload and ask WeChat about it; without WeChat (or a WeChat identity) it is shown at once."""
    openid = _openid(owner) if enabled() else None
    if openid is None:
        media.check_status = "unchecked"
        return
    media.check_status = "pending"
    _ask_about(media, openid)


def _ask_about(media: Media, openid: str) -> bool:
    body = {"media_url": _check_url(media), "media_type": 2, "version": 2, "scene": SCENES["forum"], "openid": openid}
    try:
        answer = _client().call("/wxa/media_check_async", body)
    except DependencyDown:
        return False  # stays pending without a trace id: the recheck job asks again
    if int(answer.get("errcode") or 0) or not answer.get("trace_id"):
        return False
    media.check_trace_id = str(answer["trace_id"])[:64]
    media.check_asked_at = clock.now()
    return True


def resubmit_unasked(now: datetime, limit: int = 100) -> int:
    """Ask again about held images that WeChat never received (an outage at upload) or never answered."""
    stale = now - timedelta(minutes=30)
    held = db.session.scalars(
        select(Media)
        .where(
            Media.check_status == "pending",
            (Media.check_trace_id.is_(None)) | (Media.check_asked_at <= stale),
        )
        .order_by(Media.id)
        .limit(limit)
    ).all()
    asked = 0
    for media in held:
        owner = db.session.get_one(User, media.owner_id)
        openid = _openid(owner)
        asked += openid is not None and _ask_about(media, openid)
    return asked


def apply_image_verdict(trace_id: str, suggest: str, label: int | None) -> str:
    """The asynchronous verdict for one image, applied once (a repeated push finds it already decided)."""
    media = db.session.scalar(select(Media).where(Media.check_trace_id == trace_id))
    if media is None:
        return "unknown_trace"
    status = {PASS: "pass", REVIEW: "review", RISKY: "risky"}.get(suggest)
    if status is None:
        return "ignored"
    decided = update(Media).where(Media.id == media.id, Media.check_status == "pending")
    if rows_changed(decided.values(check_status=status, check_label=label, checked_at=clock.now())) != 1:
        return "already_" + (media.check_status or "")
    db.session.refresh(media)
    if status in ("review", "risky"):
        _hold_posts_showing(media, status)
    audit.record(None, f"media.check_{status}", "media", media.id, label=label)
    return status


def _hold_posts_showing(media: Media, status: str) -> None:
    post_ids = db.session.scalars(select(PostImage.post_id).where(PostImage.media_id == media.id)).all()
    for post in db.session.scalars(select(Post).where(Post.id.in_(post_ids), Post.status == "published")).all():
        if not set_post_status(post, "pending_review", actor_id=None, reason=f"wechat media check: {status}"):
            continue
        queue.enqueue(
            "post",
            post.id,
            reason="media",
            author_id=post.author_id,
            board_id=post.board_id,
            terms=[f"image {media.id}: {status}"],
        )
