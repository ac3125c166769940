"""Members' delivery addresses: personal data, so lists show them masked, only the owner reads them whole, and
fulfilment staff read them only with an audit entry for each read. Orders keep a snapshot, so editing or deleting
an address never changes where an already-chosen order goes."""

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User, get_user
from forum.phones import mask as mask_phone
from kernel import audit, clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import Conflict, NotFound, ValidationFailed

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
MAX_ADDRESSES = 20
FIELDS = ("recipient", "phone", "province", "city", "district", "detail")


class Address(Model):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(11))
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(20))
    district: Mapped[str] = mapped_column(String(20), default="")
    detail: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_addresses_user", "user_id", "id"),)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}


def mask(fields: dict[str, Any]) -> dict[str, Any]:
    """What a list or a stranger's screen may show: 张* · 138****5678 · the street detail cut to its start."""
    recipient, phone, detail = fields["recipient"], fields["phone"], fields["detail"]
    return {
        **fields,
        "recipient": recipient[:1] + "*" * max(len(recipient) - 1, 1),
        "phone": mask_phone(phone),
        "detail": detail[:4] + "…" if len(detail) > 4 else "…",
    }


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = {name: str(fields[name]).strip() for name in FIELDS}
    if not MAINLAND_MOBILE.match(cleaned["phone"]):
        raise ValidationFailed("not a mainland mobile number", details={"phone": ["11 digits starting 13-19"]})
    empty = [name for name in FIELDS if name != "district" and not cleaned[name]]
    if empty:
        raise ValidationFailed("part of the address is blank", details={name: ["required"] for name in empty})
    return cleaned


def my_addresses(member: User) -> list[Address]:
    return list(
        db.session.scalars(
            select(Address).where(Address.user_id == member.id).order_by(Address.is_default.desc(), Address.id)
        )
    )


def own_address(member: User, address_id: int) -> Address:
    address = db.session.get(Address, address_id)
    if address is None or address.user_id != member.id:
        raise NotFound("no such address", code="address_not_found")  # not yours: indistinguishable from missing
    return address


def add(member: User, fields: dict[str, Any]) -> Address:
    cleaned = _clean(fields)
    # The member's row serialises their address book, so the cap and the single default hold under double taps.
    # FOR NO KEY UPDATE: rows this request already wrote that refer to the member (its idempotency record) hold a
    # key-share lock on it, which FOR UPDATE would wait on, deadlocking two taps that both wrote one.
    db.session.execute(select(User.id).where(User.id == member.id).with_for_update(key_share=True))
    count = db.session.execute(select(func.count()).where(Address.user_id == member.id)).scalar_one()
    if count >= MAX_ADDRESSES:
        raise Conflict("the address book is full", code="address_book_full", details={"limit": MAX_ADDRESSES})
    now = clock.now()
    address = Address(user_id=member.id, **cleaned, is_default=False, created_at=now, updated_at=now)
    db.session.add(address)
    db.session.flush()
    if fields.get("is_default") or count == 0:
        _make_default(member, address)
    return address


def change(member: User, address_id: int, fields: dict[str, Any]) -> Address:
    address = own_address(member, address_id)
    for name, value in _clean(fields).items():
        setattr(address, name, value)
    address.updated_at = clock.now()
    if fields.get("is_default"):
        _make_default(member, address)
    return address


def remove(member: User, address_id: int) -> None:
    address = own_address(member, address_id)
    was_default = address.is_default
    db.session.delete(address)
    db.session.flush()
    if was_default:
        successor = db.session.scalar(select(Address).where(Address.user_id == member.id).order_by(Address.id))
        if successor is not None:
            _make_default(member, successor)


def _make_default(member: User, address: Address) -> None:
    db.session.execute(update(Address).where(Address.user_id == member.id).values(is_default=False))
    db.session.execute(update(Address).where(Address.id == address.id).values(is_default=True))
    db.session.refresh(address)


def snapshot(member: User, address_id: int) -> dict[str, Any]:
    """The address as an order keeps it."""
    return own_address(member, address_id).as_dict()


def read_for_fulfilment(actor: User, member_id: int, reason: str) -> list[Address]:
    """A member's addresses, whole, for fulfilment staff; every read is audited with its reason."""
    actor.ensure_role("fulfilment", doing="read members' addresses")
    member = get_user(member_id)
    audit.record(actor, "address.read", "user", member.id, reason)
    return my_addresses(member)
