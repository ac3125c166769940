"""Phone binding: real identity in the back end, nickname in the front.

The number comes from the mini-program's `getPhoneNumber` code, which the server trades with WeChat
(`getuserphonenumber`); it is never typed in. It is stored encrypted (AES-256-GCM with PHONE_ENCRYPTION_KEY) and
found again only through a keyed hash (HMAC-SHA256), so the table alone reveals no number. Members see it masked;
staff look a number up only with a reason, which is audited.
"""

import base64
import hashlib
import hmac
import os
import re
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User
from forum.wechat import WeChatServerClient
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, DependencyDown, Forbidden, NotFound, ValidationFailed

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Where a bound phone may be required (REQUIRE_PHONE_FOR lists some of these).
ACTIONS = ("post", "reply", "idea", "support", "comment", "order")


class MemberPhone(Model):
    __tablename__ = "member_phones"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    cipher: Mapped[str] = mapped_column(String(120))  # base64(nonce ‖ AES-GCM ciphertext and tag)
    lookup: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC of the number: one account per phone
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _keys() -> tuple[bytes, bytes]:
    secret = current_app.config["PHONE_ENCRYPTION_KEY"].encode()
    # Two keys from one secret: encryption and lookup never share a key.
    return hashlib.sha256(b"phone-encryption:" + secret).digest(), hashlib.sha256(b"phone-lookup:" + secret).digest()


def _lookup(number: str) -> str:
    return hmac.new(_keys()[1], number.encode(), hashlib.sha256).hexdigest()


def _encrypt(number: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_keys()[0]).encrypt(nonce, number.encode(), b"member-phone")).decode()


def _decrypt(cipher: str) -> str:
    raw = base64.b64decode(cipher)
    return AESGCM(_keys()[0]).decrypt(raw[:12], raw[12:], b"member-phone").decode()


def mask(number: str) -> str:
    return number[:3] + "****" + number[-4:]


def phone_of(member_id: int) -> str | None:
    row = db.session.get(MemberPhone, member_id)
    return _decrypt(row.cipher) if row else None


def masked_phone(member_id: int) -> str | None:
    number = phone_of(member_id)
    return mask(number) if number else None


def bind(member: User, code: str, client: WeChatServerClient) -> str:
    """Trade the `getPhoneNumber` code for the member's number and bind it; returns it masked."""
    info = client.phone_number(code)
    if str(info.get("countryCode")) != "86" or not MAINLAND_MOBILE.match(str(info.get("purePhoneNumber", ""))):
        raise ValidationFailed("only mainland China mobile numbers can be bound", code="phone_not_mainland")
    watermark = info.get("watermark") or {}
    if watermark.get("appid") != client.appid:
        raise DependencyDown("WeChat answered for another mini-program", code="wechat_bad_response")
    number = str(info["purePhoneNumber"])
    lookup = _lookup(number)
    holder = db.session.scalar(select(MemberPhone.user_id).where(MemberPhone.lookup == lookup))
    if holder is not None and holder != member.id:
        raise Conflict("this number is bound to another account", code="phone_in_use")
    row = db.session.get(MemberPhone, member.id)
    if row is None:
        row = MemberPhone(user_id=member.id, cipher="", lookup="", bound_at=clock.now())
        db.session.add(row)
    row.cipher, row.lookup, row.bound_at = _encrypt(number), lookup, clock.now()
    db.session.flush()
    return mask(number)


def unbind(member: User) -> None:
    row = db.session.get(MemberPhone, member.id)
    if row is not None:
        db.session.delete(row)
        db.session.flush()


def required_for(action: str) -> bool:
    return action in current_app.config["REQUIRE_PHONE_FOR"]


def ensure_bound(member: User, action: str) -> None:
    """403 `phone_required` where the community requires a bound phone for this action (the client then asks
    for `getPhoneNumber`)."""
    if required_for(action) and db.session.get(MemberPhone, member.id) is None:
        raise Forbidden("bind your phone number first", code="phone_required", details={"action": action})


def find_by_phone(actor: User, number: str, reason: str) -> User:
    """Staff look a member up by phone, with a reason; the lookup is audited whether or not it finds someone."""
    actor.ensure_role("operator", doing="look members up by phone")
    found = db.session.scalar(select(MemberPhone.user_id).where(MemberPhone.lookup == _lookup(number)))
    audit.record(actor, "member.phone_lookup", "user", found, reason, phone=mask(number))
    if found is None:
        # The audit entry stays: a search that finds nobody is still a search.
        raise NotFound("nobody bound this number", code="member_not_found", keep_changes=True)
    return db.session.get_one(User, found)
