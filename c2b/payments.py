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
from sqlalchemy import JSON, ForeignKey, Integer, String, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from c2b import events
from c2b.presale import STAGES, Campaign, Order, RefundRequest, move_order, own_order, request_refund
from c2b.wechatpay import WeChatPayClient
from forum.members import User, WeChatIdentity
from kernel import audit, clock, outbox
from kernel.db import Model, UTCDateTime, db
from kernel.errors import BadRequest, Conflict, DependencyDown, Unauthenticated, ValidationFailed
from kernel.pagination import Page, keyset_page
from kernel.sql import get_or_404, rows_changed
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
    stage: Mapped[str] = mapped_column(String(8), default="first")
    outcome: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Anomalies (see ANOMALIES) wait for a person: who looked, when, and what they did about it.
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str] = mapped_column(String(500), default="")


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
    if not hmac.compare_digest(expected.encode(), given.encode()):  # bytes: a header may carry any character
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
    if data.setdefault("stage", "first") not in STAGES:
        errors["stage"] = [f"one of {', '.join(STAGES)}"]
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
        stage=data.get("stage", "first"),
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
    kind, stage = data["type"], data.get("stage", "first")
    if kind == "payment.failed":
        return "noted"  # the order stays payable until it expires
    if stage == "balance" and not order.balance_cents:
        return "no_balance_due"
    if data["amount_cents"] != order.charge(stage) or data["currency"].upper() != order.currency:
        return "amount_mismatch"  # never trust an amount that differs from the order: staff look at it
    ref = str(data.get("provider_ref", ""))[:80]
    if kind == "payment.succeeded":
        return _paid_first(order, ref) if stage == "first" else _paid_balance(order, ref)
    refund = db.session.scalar(
        select(RefundRequest).where(RefundRequest.order_id == order.id, RefundRequest.stage == stage)
    )
    if refund is None:
        return "no_refund_requested"
    if kind == "refund.succeeded":
        if refund.status == "refunded":
            return "already_refunded"
        refund.status, refund.updated_at = "refunded", clock.now()
        db.session.flush()
        outstanding = db.session.scalar(
            select(RefundRequest.id).where(RefundRequest.order_id == order.id, RefundRequest.status != "refunded")
        )
        if outstanding is None:
            move_order(order, ("refund_pending",), "refunded")
        outbox.emit(
            events.REFUND_COMPLETED,
            subject=("order", order.id),
            payload={"buyer_id": order.user_id, "amount_cents": refund.amount_cents, "currency": refund.currency},
        )
        return "refunded"
    db.session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == refund.id, RefundRequest.status != "refunded")
        .values(status="failed", updated_at=clock.now())
    )
    return "refund_failed"


def _paid_first(order: Order, ref: str) -> str:
    paid = "deposit_paid" if order.balance_cents else "paid"
    if move_order(order, ("pending_payment",), paid, paid_at=clock.now(), payment_ref=ref):
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


def _paid_balance(order: Order, ref: str) -> str:
    if move_order(order, ("deposit_paid",), "paid", balance_paid_at=clock.now(), balance_ref=ref):
        return "balance_paid"
    if order.status in ("forfeited", "refund_pending", "refunded", "cancelled", "expired"):
        # The balance came after the deadline (or after a cancellation): the balance goes back; the deposit
        # follows the campaign's policy as it already did.
        order.balance_ref = ref
        request_refund(order, "late_balance", stage="balance")
        return "refund_late_balance"
    return "already_" + order.status


# Outcomes of a notification that brought money in (kept, or owed back because it came too late).
MONEY_RECEIVED = ("paid", "balance_paid", "refund_late_payment", "refund_late_balance")

# Outcomes that need a person: money that does not match its order, or that arrived for an order already over.
ANOMALIES = ("amount_mismatch", "refund_late_payment", "refund_late_balance", "unknown_order")


def anomalies(actor: User, unresolved_only: bool, limit: int, cursor: str | None) -> Page:
    actor.ensure_role("product", "operator", doing="review payment anomalies")
    query = select(PaymentNotification).where(PaymentNotification.outcome.in_(ANOMALIES))
    if unresolved_only:
        query = query.where(PaymentNotification.resolved_at.is_(None))
    return keyset_page(query, [PaymentNotification.id], limit, cursor)


def resolve_anomaly(actor: User, notification_id: int, resolution: str) -> PaymentNotification:
    actor.ensure_role("product", doing="resolve payment anomalies")
    note = get_or_404(PaymentNotification, notification_id, "anomaly", visible=lambda n: n.outcome in ANOMALIES)
    if not resolution.strip():
        raise ValidationFailed("say what was done", details={"resolution": ["required"]})
    resolved = update(PaymentNotification).where(
        PaymentNotification.id == note.id, PaymentNotification.resolved_at.is_(None)
    )
    if (
        rows_changed(
            resolved.values(resolved_at=clock.now(), resolved_by=actor.id, resolution=resolution.strip()[:500])
        )
        != 1
    ):
        raise Conflict("someone already resolved this anomaly", code="anomaly_resolved")
    db.session.refresh(note)
    audit.record(actor, "payment.anomaly_resolved", "payment_notification", note.id, resolution.strip()[:200])
    return note


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
                "stage": refund.stage,
                "payment_ref": order.payment_ref if refund.stage == "first" else order.balance_ref,
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
                if paid_with_wechat(order, refund.stage):
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

# One trade number per charge: WeChat Pay pays each out_trade_no once, and a deposit order is charged twice.
TRADE_PREFIXES = {"first": "PS", "balance": "PB"}


def out_trade_no(order: Order, stage: str = "first") -> str:
    return f"{TRADE_PREFIXES[stage]}{order.id:010d}"


def order_of_trade(trade_no: str) -> tuple[int, str] | None:
    for stage, prefix in TRADE_PREFIXES.items():
        digits = trade_no[len(prefix) :]
        if trade_no.startswith(prefix) and digits.isdigit() and len(digits) == 10:
            return int(digits), stage
    return None


def payable_stage(order: Order, now: datetime) -> str:
    """Which charge the member can pay now: the first while the order waits for it, the balance in the window."""
    if order.status == "pending_payment":
        return "first"
    campaign = db.session.get_one(Campaign, order.campaign_id)
    in_window = campaign.state == "balance_due" and campaign.balance_due_at and now < campaign.balance_due_at
    if order.status == "deposit_paid" and in_window:
        return "balance"
    raise Conflict("this order is not waiting for payment", code="order_not_payable", details={"status": order.status})


def start_wechat_payment(member: User, order_id: int, client: Callable[[], WeChatPayClient]) -> dict[str, str]:
    """Prepay what a member's order owes now (the first charge or the balance); the answer is what the
    mini-program hands to `wx.requestPayment`."""
    order = own_order(member, order_id)
    stage = payable_stage(order, clock.now())
    identity = db.session.scalar(select(WeChatIdentity).where(WeChatIdentity.user_id == member.id))
    if identity is None:
        raise Conflict("sign in with WeChat to pay in the mini-program", code="wechat_not_linked")
    campaign = db.session.get_one(Campaign, order.campaign_id)
    trade_no = out_trade_no(order, stage)
    pay = client()  # only once the order is known to be payable
    prepay_id = pay.jsapi_prepay(
        out_trade_no=trade_no,
        description=campaign.title + ("（尾款）" if stage == "balance" else ""),
        amount_cents=order.charge(stage),
        openid=identity.openid,
    )
    # Paying through WeChat Pay: the reconciliation job may ask about it.
    if stage == "first":
        order.payment_ref = trade_no
    else:
        order.balance_ref = trade_no
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
    trade = order_of_trade(str(resource.get("out_trade_no", "")))
    amount = resource.get("amount") or {}
    # A refund notification's amount.total is the charge's total, amount.refund what went back; both equal here.
    total = amount.get("refund") if kind and kind.startswith("refund") else amount.get("total")
    if kind is None or trade is None or type(total) is not int:
        raise ValidationFailed("not a notification for a pre-sale order", code="bad_notification")
    order_id, stage = trade
    if kind == "payment":
        kind = "payment.succeeded" if resource.get("trade_state") == "SUCCESS" else "payment.failed"
    return {
        "event_id": f"wxpay:{notification.get('id', '')}"[:80],
        "type": kind,
        "order_id": order_id,
        "stage": stage,
        "amount_cents": total,
        "currency": str(amount.get("currency") or "CNY"),
        "provider_ref": str(resource.get("transaction_id") or resource.get("refund_id") or ""),
    }


def paid_with_wechat(order: Order, stage: str = "first") -> bool:
    return (
        db.session.scalar(
            select(PaymentNotification.id)
            .where(
                PaymentNotification.order_id == order.id,
                PaymentNotification.stage == stage,
                PaymentNotification.event_id.like("wxpay%"),
                PaymentNotification.outcome.in_(MONEY_RECEIVED),
            )
            .limit(1)
        )
        is not None
    )


def _wechat_refund(wechat: WeChatPayClient, refund: RefundRequest, order: Order) -> str:
    answer = wechat.refund(
        out_trade_no=out_trade_no(order, refund.stage),
        out_refund_no=f"RF{refund.id:010d}",  # WeChat Pay refunds once per out_refund_no, however often it is sent
        refund_cents=refund.amount_cents,
        total_cents=order.charge(refund.stage),
        reason=refund.reason,
    )
    return str(answer.get("refund_id", ""))[:80]


def reconcile_wechat(wechat: WeChatPayClient, older_than: datetime, limit: int = 100) -> int:
    """Ask WeChat Pay about charges that started but never arrived (a notification may be lost): a payment found
    there is applied as its notification would be. Returns how many charges it settled."""
    recent = older_than - timedelta(days=1)  # WeChat Pay closes unpaid trades long before
    first = (
        select(Order.id, literal("first"))
        .where(
            Order.status.in_(("pending_payment", "expired", "cancelled")),
            Order.payment_ref.like(f"{TRADE_PREFIXES['first']}%"),
            Order.created_at <= older_than,
            Order.created_at >= recent,
        )
        .order_by(Order.id)
        .limit(limit)
    )
    balance = (
        select(Order.id, literal("balance"))
        .join(Campaign, Campaign.id == Order.campaign_id)
        .where(
            Order.status.in_(("deposit_paid", "forfeited", "refund_pending")),
            Order.balance_paid_at.is_(None),
            Order.balance_ref.like(f"{TRADE_PREFIXES['balance']}%"),
            Campaign.balance_due_at >= recent,
        )
        .order_by(Order.id)
        .limit(limit)
    )
    charges = [*db.session.execute(first).all(), *db.session.execute(balance).all()]
    settled = 0
    for order_id, stage in charges:
        with transaction():
            order = db.session.get_one(Order, order_id)
            try:
                found = wechat.query(out_trade_no(order, stage))
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
            settled += note.outcome in MONEY_RECEIVED
    return settled
