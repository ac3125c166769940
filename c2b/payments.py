"""Payment notifications from the provider, and refunds sent back to it.

Notifications are signed: header `X-Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` with
PAYMENT_WEBHOOK_SECRET. Old timestamps are refused (replay), each provider event id is applied once (duplicates
answer with the first outcome), amounts and currencies must equal the order's, and notifications may arrive in
any order: money for an order that has meanwhile expired or been cancelled turns into a refund, never into a
confirmed order or into points.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import JSON, ForeignKey, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from c2b.presale import Campaign, Order, RefundRequest, move_order, own_order, request_refund
from c2b.wechatpay import WeChatPayClient
from forum.members import User, WeChatIdentity
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import BadRequest, Conflict, DependencyDown, Unauthenticated, ValidationFailed
from kernel.unit_of_work import transaction

KINDS = ("payment.succeeded", "payment.failed", "refund.succeeded", "refund.failed")


class PaymentNotification(Model):
    __tablename__ = "payment_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("presale_orders.id"))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    provider_ref: Mapped[str] = mapped_column(String(80), default="")
    outcome: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: datetime, tolerance: int) -> None:
    if not secret:
        raise DependencyDown("payments are not configured", code="payments_not_configured")
    try:
        parts = dict(item.split("=", 1) for item in (header or "").split(","))
        timestamp, given = int(parts["t"]), parts["v1"]
    except (ValueError, KeyError) as exc:
        raise Unauthenticated("missing or malformed signature", code="bad_signature") from exc
    expected = sign(secret, timestamp, body).split("v1=")[1]
    if not hmac.compare_digest(expected, given):
        raise Unauthenticated("the signature does not match", code="bad_signature")
    if abs(now.timestamp() - timestamp) > tolerance:
        raise Unauthenticated("the notification is too old or from the future", code="stale_signature")


MAX_INT32 = 2**31 - 1  # the columns' range


def parse(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BadRequest("the body is not JSON", code="malformed_json") from exc
    errors = {}
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be an object", details={"_schema": ["object expected"]})
    if not isinstance(data.get("event_id"), str) or not 1 <= len(data["event_id"]) <= 80:
        errors["event_id"] = ["string, 1-80 characters"]
    if data.get("type") not in KINDS:
        errors["type"] = [f"one of {', '.join(KINDS)}"]
    # `type(...) is int`: JSON true/false are not order ids or amounts (bool is an int in Python).
    if type(data.get("order_id")) is not int or not 1 <= data["order_id"] <= MAX_INT32:
        errors["order_id"] = [f"integer from 1 to {MAX_INT32}"]
    if type(data.get("amount_cents")) is not int or not 0 <= data["amount_cents"] <= MAX_INT32:
        errors["amount_cents"] = [f"integer from 0 to {MAX_INT32}"]
    if not isinstance(data.get("currency"), str) or len(data["currency"]) != 3:
        errors["currency"] = ["ISO 4217 code"]
    if errors:
        raise ValidationFailed("the notification is incomplete", details=errors)
    return data


def handle(data: dict) -> PaymentNotification:
    """Apply one notification once; a repeat of the same event id returns the stored first outcome."""
    prior = db.session.scalar(select(PaymentNotification).where(PaymentNotification.event_id == data["event_id"]))
    if prior is not None:
        return prior
    order = db.session.get(Order, data["order_id"])
    outcome = "unknown_order" if order is None else _apply(order, data)
    note = PaymentNotification(
        event_id=data["event_id"],
        kind=data["type"],
        order_id=order.id if order else None,
        amount_cents=data["amount_cents"],
        currency=data["currency"].upper(),
        provider_ref=str(data.get("provider_ref", ""))[:80],
        outcome=outcome,
        payload=data,
        received_at=clock.now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(note)
    except IntegrityError:
        # The same event raced in on another connection and won; its outcome is the answer.
        db.session.rollback()
        winner = select(PaymentNotification).where(PaymentNotification.event_id == data["event_id"])
        return db.session.execute(winner).scalar_one()
    return note


def _apply(order: Order, data: dict) -> str:
    kind = data["type"]
    if kind == "payment.failed":
        return "noted"  # the order stays payable until it expires
    if data["amount_cents"] != order.amount_cents or data["currency"].upper() != order.currency:
        return "amount_mismatch"  # never trust an amount that differs from the order: staff look at it
    if kind == "payment.succeeded":
        ref = str(data.get("provider_ref", ""))[:80]
        if move_order(order, ("pending_payment",), "paid", paid_at=clock.now(), payment_ref=ref):
            db.session.execute(
                update(Campaign)
                .where(Campaign.id == order.campaign_id)
                .values(paid_quantity=Campaign.paid_quantity + order.quantity)
            )
            return "paid"
        if order.status in ("expired", "cancelled"):
            # Money arrived after the order died (out of order, or too late): it goes back.
            move_order(order, (order.status,), "refund_pending", payment_ref=ref)
            request_refund(order, "late_payment")
            return "refund_late_payment"
        return "already_" + order.status
    refund = db.session.scalar(select(RefundRequest).where(RefundRequest.order_id == order.id))
    if refund is None:
        return "no_refund_requested"
    if kind == "refund.succeeded":
        db.session.execute(
            update(RefundRequest).where(RefundRequest.id == refund.id).values(status="refunded", updated_at=clock.now())
        )
        move_order(order, ("refund_pending",), "refunded")
        return "refunded"
    db.session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == refund.id, RefundRequest.status != "refunded")
        .values(status="failed", updated_at=clock.now())
    )
    return "refund_failed"


class PaymentProviderClient:
    """Asks the provider to return money. The request is signed like the provider's own notifications."""

    def __init__(self, base_url: str, secret: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout

    def request_refund(self, refund: RefundRequest, order: Order) -> str:
        body = json.dumps(
            {
                "merchant_refund_id": f"refund-{refund.id}",
                "order_id": order.id,
                "payment_ref": order.payment_ref,
                "amount_cents": refund.amount_cents,
                "currency": refund.currency,
                "reason": refund.reason,
            },
            separators=(",", ":"),
        ).encode()
        timestamp = int(clock.now().timestamp())
        try:
            response = requests.post(
                f"{self.base_url}/refunds",
                data=body,
                timeout=self.timeout,
                headers={
                    "Content-Type": "application/json",
                    "X-Payment-Signature": sign(self.secret, timestamp, body),
                    "Idempotency-Key": f"refund-{refund.id}",
                },
            )
            response.raise_for_status()
            reply = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyDown("the payment provider did not accept the refund", code="provider_error") from exc
        return str(reply.get("refund_id", ""))


def send_refunds(
    client: PaymentProviderClient, wechat: WeChatPayClient | None = None, limit: int = 100
) -> tuple[int, int]:
    """Send requested refunds to whichever provider took the money; returns (sent, failed). Failed ones are
    retried next run; a refund is marked sent once, so it is never sent twice."""
    sent = failed = 0
    refund_ids = db.session.scalars(
        select(RefundRequest.id).where(RefundRequest.status == "requested").order_by(RefundRequest.id).limit(limit)
    ).all()
    for refund_id in refund_ids:
        with transaction():  # each refund's outcome is written as soon as the provider answers
            refund = db.session.get_one(RefundRequest, refund_id)
            order = db.session.get_one(Order, refund.order_id)
            try:
                if paid_with_wechat(order):
                    if wechat is None:
                        raise DependencyDown("WeChat Pay is not configured", code="payments_not_configured")
                    ref = _wechat_refund(wechat, refund, order)
                else:
                    ref = client.request_refund(refund, order)
            except DependencyDown:
                failed += 1
            else:
                refund.status, refund.provider_ref = "sent", ref
                sent += 1
            refund.attempts += 1
            refund.updated_at = clock.now()
    return sent, failed


# WeChat Pay: the mini-program's payments reach the same ledger of notifications as the signed-webhook provider.

OUT_TRADE_PREFIX = "PS"


def out_trade_no(order: Order) -> str:
    return f"{OUT_TRADE_PREFIX}{order.id:010d}"


def order_id_of(trade_no: str) -> int | None:
    digits = trade_no[len(OUT_TRADE_PREFIX) :]
    return int(digits) if trade_no.startswith(OUT_TRADE_PREFIX) and digits.isdigit() else None


def start_wechat_payment(member: User, order_id: int, client: Callable[[], WeChatPayClient]) -> dict[str, str]:
    """Prepay a member's unpaid order; the answer is what the mini-program hands to `wx.requestPayment`."""
    order = own_order(member, order_id)
    if order.status != "pending_payment":
        raise Conflict(
            "this order is not waiting for payment", code="order_not_payable", details={"status": order.status}
        )
    identity = db.session.scalar(select(WeChatIdentity).where(WeChatIdentity.user_id == member.id))
    if identity is None:
        raise Conflict("sign in with WeChat to pay in the mini-program", code="wechat_not_linked")
    campaign = db.session.get_one(Campaign, order.campaign_id)
    trade_no = out_trade_no(order)
    pay = client()  # only once the order is known to be payable
    prepay_id = pay.jsapi_prepay(
        out_trade_no=trade_no, description=campaign.title, amount_cents=order.amount_cents, openid=identity.openid
    )
    order.payment_ref = trade_no  # paying through WeChat Pay: the reconciliation job may ask about it
    return {"out_trade_no": trade_no, **pay.request_payment_params(prepay_id)}


WECHAT_EVENTS = {
    "TRANSACTION.SUCCESS": "payment",
    "REFUND.SUCCESS": "refund.succeeded",
    "REFUND.ABNORMAL": "refund.failed",
    "REFUND.CLOSED": "refund.failed",
}


def from_wechat(notification: dict[str, Any]) -> dict[str, Any]:
    """A verified, decrypted WeChat Pay notification as the notification ledger's input."""
    kind = WECHAT_EVENTS.get(str(notification.get("event_type")))
    resource = notification["resource"]
    order_id = order_id_of(str(resource.get("out_trade_no", "")))
    amount = resource.get("amount") or {}
    if kind is None or order_id is None or type(amount.get("total")) is not int:
        raise ValidationFailed("not a notification for a pre-sale order", code="bad_notification")
    if kind == "payment":
        kind = "payment.succeeded" if resource.get("trade_state") == "SUCCESS" else "payment.failed"
    return {
        "event_id": f"wxpay:{notification.get('id', '')}"[:80],
        "type": kind,
        "order_id": order_id,
        "amount_cents": amount["total"],
        "currency": str(amount.get("currency") or "CNY"),
        "provider_ref": str(resource.get("transaction_id") or resource.get("refund_id") or ""),
    }


def paid_with_wechat(order: Order) -> bool:
    return (
        db.session.scalar(
            select(PaymentNotification.id)
            .where(
                PaymentNotification.order_id == order.id,
                PaymentNotification.event_id.like("wxpay%"),
                PaymentNotification.outcome.in_(("paid", "refund_late_payment")),
            )
            .limit(1)
        )
        is not None
    )


def _wechat_refund(wechat: WeChatPayClient, refund: RefundRequest, order: Order) -> str:
    answer = wechat.refund(
        out_trade_no=out_trade_no(order),
        out_refund_no=f"RF{refund.id:010d}",  # WeChat Pay refunds once per out_refund_no, however often it is sent
        refund_cents=refund.amount_cents,
        total_cents=order.amount_cents,
        reason=refund.reason,
    )
    return str(answer.get("refund_id", ""))[:80]


def reconcile_wechat(wechat: WeChatPayClient, older_than: datetime, limit: int = 100) -> int:
    """Ask WeChat Pay about orders that started paying but are still unpaid (a notification may be lost): a
    payment found there is applied as its notification would be. Returns how many orders it settled."""
    order_ids = db.session.scalars(
        select(Order.id)
        .where(
            Order.status.in_(("pending_payment", "expired", "cancelled")),
            Order.payment_ref.like(f"{OUT_TRADE_PREFIX}%"),
            Order.created_at <= older_than,
            Order.created_at >= older_than - timedelta(days=1),  # WeChat Pay's orders close long before
        )
        .order_by(Order.id)
        .limit(limit)
    ).all()
    settled = 0
    for order_id in order_ids:
        with transaction():
            order = db.session.get_one(Order, order_id)
            try:
                found = wechat.query(out_trade_no(order))
            except DependencyDown:
                continue
            if found.get("trade_state") != "SUCCESS":
                continue
            note = handle(
                from_wechat(
                    {
                        "id": f"query:{found.get('transaction_id', '')}",
                        "event_type": "TRANSACTION.SUCCESS",
                        "resource": found,
                    }
                )
            )
            settled += note.outcome in ("paid", "refund_late_payment")
    return settled
