"""From a succeeded pre-sale to the member's door: where each order goes, the fulfilment partner's shipping list
(CSV or XLSX), and shipment status set by staff or by the partner's CSV."""

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import select

from c2b import events
from c2b.addresses import snapshot
from c2b.presale import Campaign, CampaignOption, Order, get_campaign, own_order
from forum.members import User
from kernel import audit, clock, outbox
from kernel.db import db
from kernel.errors import Conflict, ValidationFailed
from kernel.spreadsheet import spreadsheet_csv, spreadsheet_xlsx
from kernel.sql import move

SHIPPABLE_CAMPAIGNS = ("succeeded", "in_production", "shipped")
# Where an order may go next; staff may also repeat a step to correct the carrier or tracking number.
SHIPMENT_STEPS = {
    "in_production": ("", "in_production"),
    "shipped": ("", "in_production", "shipped"),
    "delivered": ("shipped", "delivered"),
}


def set_address(member: User, order_id: int, address_id: int) -> Order:
    """Choose (or change) where an order goes, until it ships."""
    order = own_order(member, order_id)
    if order.status not in ("pending_payment", "deposit_paid", "paid", "confirmed"):
        raise Conflict(f"a {order.status} order is not delivered", code="order_not_deliverable")
    if order.shipment_status in ("shipped", "delivered"):
        raise Conflict("the order has shipped", code="order_shipped")
    order.ship_to = snapshot(member, address_id)
    order.region = order.ship_to["province"][:64]
    order.updated_at = clock.now()
    return order


SHIPPING_COLUMNS = (
    "order_id",
    "sku",
    "option",
    "quantity",
    "recipient",
    "phone",
    "province",
    "city",
    "district",
    "detail",
    "shipment_status",
    "carrier",
    "tracking_no",
)


def shipping_rows(actor: User, campaign_id: int) -> tuple[Campaign, list[list[Any]]]:
    """Every confirmed order with its full address; reading it is audited (it is members' personal data)."""
    actor.ensure_role("fulfilment", doing="export shipping lists")
    campaign = get_campaign(campaign_id, actor)
    if campaign.state not in SHIPPABLE_CAMPAIGNS:
        raise Conflict("only a succeeded pre-sale ships", code="presale_not_succeeded")
    rows = []
    query = (
        select(Order, CampaignOption)
        .join(CampaignOption, CampaignOption.id == Order.option_id)
        .where(Order.campaign_id == campaign.id, Order.status == "confirmed")
        .order_by(Order.id)
    )
    for order, option in db.session.execute(query).all():
        ship_to = order.ship_to or {}
        rows.append(
            [
                order.id,
                option.sku,
                option.name,
                order.quantity,
                *(ship_to.get(name, "") for name in ("recipient", "phone", "province", "city", "district", "detail")),
                order.shipment_status,
                order.carrier,
                order.tracking_no,
            ]
        )
    audit.record(actor, "presale.shipping_export", "presale", campaign.id, orders=len(rows))
    return campaign, rows


def shipping_csv(rows: list[list[Any]]) -> str:
    return spreadsheet_csv(SHIPPING_COLUMNS, rows)


def shipping_xlsx(rows: list[list[Any]]) -> bytes:
    return spreadsheet_xlsx(SHIPPING_COLUMNS, rows, sheet="shipping")


def record_shipments(actor: User, campaign_id: int, items: list[dict[str, Any]] | bytes) -> dict[str, Any]:
    """Apply shipment updates (a list, or the partner's CSV file); each line is checked on its own, so one bad
    line does not stop the others."""
    actor.ensure_role("fulfilment", doing="record shipments")
    campaign = get_campaign(campaign_id, actor)
    if campaign.state not in SHIPPABLE_CAMPAIGNS:
        raise Conflict("only a succeeded pre-sale ships", code="presale_not_succeeded")
    if isinstance(items, bytes):
        items = parse_partner_csv(items)
    now = clock.now()
    updated, errors = 0, []
    for line, item in enumerate(items, start=1):
        problem = _ship(campaign, item, now)
        if problem:
            errors.append({"line": line, "order_id": item.get("order_id"), "message": problem})
        else:
            updated += 1
    audit.record(actor, "presale.shipments", "presale", campaign.id, updated=updated, refused=len(errors))
    return {"updated": updated, "errors": errors}


def _ship(campaign: Campaign, item: dict[str, Any], now: datetime) -> str:
    status = item.get("status") or "shipped"
    if status not in SHIPMENT_STEPS:
        return f"unknown status {status!r}"
    order = db.session.get(Order, item["order_id"]) if item.get("order_id") else None
    if order is None or order.campaign_id != campaign.id or order.status != "confirmed":
        return "not a confirmed order of this pre-sale"
    carrier, tracking = (item.get("carrier") or "").strip(), (item.get("tracking_no") or "").strip()
    values: dict[str, Any] = {"updated_at": now}
    if status == "shipped":
        if not carrier or not tracking:
            return "a shipped order needs a carrier and a tracking number"
        values |= {"carrier": carrier[:40], "tracking_no": tracking[:64], "shipped_at": order.shipped_at or now}
    if status == "delivered":
        values["delivered_at"] = now
    before = (order.carrier, order.tracking_no, order.shipment_status)
    if not move(order, status, sources=SHIPMENT_STEPS[status], column="shipment_status", **values):
        return f"a {order.shipment_status or 'new'} order cannot become {status}"
    if status == "shipped" and before != (order.carrier, order.tracking_no, "shipped"):
        outbox.emit(
            events.ORDER_SHIPPED,
            subject=("order", order.id),
            payload={"buyer_id": order.user_id, "carrier": order.carrier, "tracking_no": order.tracking_no},
        )
    return ""


PARTNER_COLUMNS = ("order_id", "carrier", "tracking_no")
MAX_UPLOAD_ROWS = 20_000


def parse_partner_csv(data: bytes) -> list[dict[str, Any]]:
    """The partner's file: a header with order_id, carrier, tracking_no (and optionally status), UTF-8 (BOM or
    not) or GB18030, as Excel and WPS in China save it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed("the file is not UTF-8 or GB18030 text", details={"file": ["CSV text"]})
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in PARTNER_COLUMNS if name not in header]
    if missing:
        raise ValidationFailed("the CSV lacks columns", details={"file": [f"missing {', '.join(missing)}"]})
    items = []
    for row in reader:
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items() if key}
        order_id = row.get("order_id", "")
        items.append(
            {
                "order_id": int(order_id) if order_id.isdigit() and len(order_id) < 10 else None,
                "carrier": row.get("carrier", ""),
                "tracking_no": row.get("tracking_no", ""),
                "status": row.get("status") or "shipped",
            }
        )
    if not items:
        raise ValidationFailed("the CSV has no rows", details={"file": ["at least one row"]})
    if len(items) > MAX_UPLOAD_ROWS:
        raise ValidationFailed("too many rows", details={"file": [f"at most {MAX_UPLOAD_ROWS} rows"]})
    return items
