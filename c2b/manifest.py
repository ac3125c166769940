"""The factory manifest of a succeeded pre-sale: units per SKU and region, and the order lines behind them."""

from sqlalchemy import func, select

from c2b.presale import CampaignOption, Order, get_campaign
from forum.members import User
from kernel.db import db
from kernel.errors import Conflict
from kernel.spreadsheet import spreadsheet_csv, spreadsheet_xlsx


def manifest(campaign_id: int, actor: User) -> dict:
    actor.ensure_role("product", "operator", doing="read manifests")
    campaign = get_campaign(campaign_id, actor)
    if campaign.state not in ("succeeded", "in_production", "shipped"):
        raise Conflict("only a succeeded pre-sale has a manifest", code="presale_not_succeeded")
    rows = db.session.execute(
        select(CampaignOption.sku, CampaignOption.name, Order.region, func.sum(Order.quantity), func.count(Order.id))
        .join(CampaignOption, CampaignOption.id == Order.option_id)
        .where(Order.campaign_id == campaign.id, Order.status == "confirmed")
        .group_by(CampaignOption.sku, CampaignOption.name, Order.region)
        .order_by(CampaignOption.sku, Order.region)
    ).all()
    by_sku: dict[str, dict] = {}
    by_region: dict[str, int] = {}
    lines = []
    for sku, name, region, units, orders in rows:
        region = region or "unspecified"
        entry = by_sku.setdefault(sku, {"sku": sku, "name": name, "units": 0, "orders": 0})
        entry["units"] += int(units)
        entry["orders"] += int(orders)
        by_region[region] = by_region.get(region, 0) + int(units)
        lines.append({"sku": sku, "name": name, "region": region, "units": int(units), "orders": int(orders)})
    return {
        "campaign_id": campaign.id,
        "title": campaign.title,
        "total_units": sum(by_region.values()),
        "by_sku": list(by_sku.values()),
        "by_region": [{"region": r, "units": u} for r, u in sorted(by_region.items())],
        "lines": lines,
    }


MANIFEST_COLUMNS = ("sku", "name", "region", "units", "orders")


def manifest_csv(data: dict) -> str:
    return spreadsheet_csv(MANIFEST_COLUMNS, ([line[k] for k in MANIFEST_COLUMNS] for line in data["lines"]))


def manifest_xlsx(data: dict) -> bytes:
    return spreadsheet_xlsx(
        MANIFEST_COLUMNS, ([line[k] for k in MANIFEST_COLUMNS] for line in data["lines"]), "manifest"
    )
