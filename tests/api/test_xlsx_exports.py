"""XLSX beside CSV for the product team and operators: the same rows, no encoding or formula questions."""

import io
from datetime import timedelta

from openpyxl import load_workbook

from kernel import clock
from tests.api.test_presale import SECRET, _campaign, _order
from tests.support import notify_payment


def _sheet(response):
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet"), response.status_code
    return list(load_workbook(io.BytesIO(response.get_data())).active.iter_rows(values_only=True))


def test_the_manifest_and_a_segment_come_as_xlsx(client, members, frozen_clock):
    product, operator = members.create(role="product"), members.create(role="operator")
    campaign = _campaign(client, product, frozen_clock, moq=1)
    buyer = members.create()
    order = _order(client, buyer, campaign, quantity=2, region="=cmd|' /C calc'!A0").get_json()
    notify_payment(client, SECRET, order=order, event_id="xlsx-1", at=int(clock.now().timestamp()))
    clock.advance(timedelta(days=8))
    client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
    rows = _sheet(client.get(f"/api/v1/presales/{campaign['id']}/manifest?format=xlsx", headers=product.headers))
    assert rows[0] == ("sku", "name", "region", "units", "orders")
    assert rows[1][0] == "DRAGON-RED" and rows[1][3] == 2 and rows[1][2].startswith("'=")  # text, never a formula
    segment = _sheet(client.get("/api/v1/segments?format=xlsx", headers=operator.headers))
    assert segment[0] == ("id", "username", "display_name", "level", "region") and len(segment) > 1
    assert client.get("/api/v1/segments?format=xlsx", headers=buyer.headers).status_code == 403
    top = _sheet(client.get("/api/v1/ideas/top?format=xlsx", headers=product.headers))
    assert top[0][0] is not None
