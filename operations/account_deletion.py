"""Account deletion (注销) as the Personal Information Protection Law asks: a request, a cooling-off period that
signing in cancels, then erasure.

Erasure removes what identifies the person and keeps, anonymised, what the community and the law need:
- erased: names, bio, region, password, phone, WeChat ids, addresses, interest tags, subscribe-message consents
  and queued messages, the inbox, idempotency records, answers to experience-officer applications, delivery notes
  on redemptions, the street address on orders, data exports; every session ends;
- kept, anonymised: posts, replies, ideas and comments (shown as 已注销用户), supports and votes (counts stay
  true), ledger entries (the balance is forfeited to the system through a ledger transaction), orders with what
  e-commerce record-keeping requires (items, amounts, dates, the province and city), the audit log.
The username stays retired for RETIRED_USERNAME_DAYS so nobody can take it over.
"""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from c2b import ideas
from c2b.addresses import Address
from c2b.presale import Order
from economy.ledger import forfeit_balance
from economy.mall import Redemption
from forum import auth_sessions, members
from forum.members import RetiredUsername, User, WeChatIdentity, retired_name_hash
from forum.notifications import Notification
from forum.phones import MemberPhone
from forum.subscribe_messages import SubscribeConsent, SubscribeMessage
from kernel import audit
from kernel.db import db
from kernel.errors import ValidationFailed
from kernel.idempotency import IdempotencyKey
from kernel.sql import insert_if_absent
from kernel.unit_of_work import transaction
from operations.campaigns import Application
from operations.data_export import DataExport, discard_files
from operations.tags import MemberTag

DELETED_NAME = "已注销用户"
CONFIRMATION = "注销"


def request_deletion(member: User, confirmation: str) -> User:
    if confirmation != CONFIRMATION:
        raise ValidationFailed(
            "type 注销 to confirm", code="confirmation_required", details={"confirm": [CONFIRMATION]}
        )
    members.request_deletion(member, current_app.config["ACCOUNT_DELETION_DAYS"])
    audit.record(member, "member.deletion_requested", "user", member.id)
    return member


def erase_due(now: datetime) -> int:
    """Erase every account whose cooling-off period is over; one account per unit of work."""
    due = db.session.scalars(
        select(User.id).where(User.deletion_due_at <= now, User.deleted_at.is_(None)).order_by(User.id)
    ).all()
    erased = 0
    for user_id in due:
        with transaction():
            erased += erase(user_id, now)
    return erased


def erase(user_id: int, now: datetime) -> bool:
    # Locked, and checked again: a sign-in that cancelled the request just before wins.
    user = db.session.get(User, user_id, with_for_update={"key_share": True}, populate_existing=True)
    if user is None or user.deleted_at is not None or user.deletion_due_at is None or user.deletion_due_at > now:
        return False
    keep_name_until = now + timedelta(days=current_app.config["RETIRED_USERNAME_DAYS"])
    name_hash = retired_name_hash(user.username_key)
    if not insert_if_absent(RetiredUsername, {"name_hash": name_hash, "until": keep_name_until}):
        db.session.execute(
            update(RetiredUsername).where(RetiredUsername.name_hash == name_hash).values(until=keep_name_until)
        )
    forfeit_balance(user.id, "account_deleted")
    for model in (WeChatIdentity, MemberPhone, Address, SubscribeConsent, SubscribeMessage, Notification):
        db.session.execute(delete(model).where(model.user_id == user.id))
    db.session.execute(delete(MemberTag).where(MemberTag.user_id == user.id))
    db.session.execute(update(MemberTag).where(MemberTag.added_by == user.id).values(added_by=None))
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user.id))
    db.session.execute(update(Application).where(Application.user_id == user.id).values(answers={}))
    db.session.execute(update(Redemption).where(Redemption.user_id == user.id).values(shipping_note=""))
    _strip_addresses_from_orders(user.id)
    discard_files(user.id)
    db.session.execute(delete(DataExport).where(DataExport.user_id == user.id))
    auth_sessions.revoke_all(user.id, reason="account_deleted")
    user.username = f"deleted_{user.id}"
    user.username_key = f"deleted:{user.id}"
    user.username_skeleton = None
    user.display_name = DELETED_NAME
    user.display_name_key = f"deleted:{user.id}"
    user.password_hash = None
    user.bio = user.region = ""
    user.last_login_at = user.deletion_requested_at = user.deletion_due_at = None
    user.deleted_at = now
    db.session.flush()
    ideas.recount_member(user.id, now)  # the supports stay as records but no longer count
    audit.record(None, "member.erased", "user", user.id)
    return True


def _strip_addresses_from_orders(user_id: int) -> None:
    for order in db.session.scalars(select(Order).where(Order.user_id == user_id)):
        if order.ship_to:
            order.ship_to = {key: order.ship_to.get(key, "") for key in ("province", "city")}
