"""Delivery: the address book, addresses on orders, the shipping list and shipment status."""

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from kernel import clock
from kernel.audit import AuditEntry
from kernel.db import db
from tests.api.test_presale import SECRET, _campaign, _order
from tests.support import notify_payment

HOME = {
    "recipient": "张小明",
    "phone": "13812345678",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "detail": "世纪大道 100 号 8 楼",
}


def _address(client, member, **changes) -> dict:
    created = client.post("/api/v1/me/addresses", json={**HOME, **changes}, headers=member.headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_the_address_book_is_private_masked_and_validated(app, client, members):
    owner, stranger = members.create(), members.create()
    fulfilment, product = members.create(role="fulfilment"), members.create(role="product")
    home = _address(client, owner)
    assert home["is_default"] is True and home["masked"] is False and home["phone"] == "13812345678"
    office = _address(client, owner, detail="南京西路 1 号", is_default=True)
    listed = client.get("/api/v1/me/addresses", headers=owner.headers).get_json()["items"]
    assert [a["id"] for a in listed] == [office["id"], home["id"]]  # the default first
    assert listed[1]["phone"] == "138****5678" and listed[1]["recipient"] == "张**" and listed[1]["masked"] is True
    assert "世纪大道 100 号" not in str(listed)
    whole = client.get(f"/api/v1/me/addresses/{home['id']}", headers=owner.headers).get_json()
    assert whole["detail"] == HOME["detail"] and whole["is_default"] is False
    for url in (f"/api/v1/me/addresses/{home['id']}",):
        assert client.get(url, headers=stranger.headers).status_code == 404
        assert client.put(url, json=HOME, headers=stranger.headers).status_code == 404
        assert client.delete(url, headers=stranger.headers).status_code == 404
    for bad in ({"phone": "12345678901"}, {"phone": "1381234567"}, {"detail": "   "}, {"province": ""}):
        assert client.post("/api/v1/me/addresses", json={**HOME, **bad}, headers=owner.headers).status_code == 422
    # Staff read whole addresses only with the fulfilment role, and every read is audited with its reason.
    staff_url = f"/api/v1/members/{owner.id}/addresses?reason=核对发货地址"
    assert client.get(staff_url, headers=product.headers).status_code == 403
    assert client.get(staff_url, headers=stranger.headers).status_code == 403
    read = client.get(staff_url, headers=fulfilment.headers).get_json()["items"]
    assert {a["phone"] for a in read} == {"13812345678"}
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "address.read")).one()
        assert (entry.actor_id, entry.target_id, entry.reason) == (fulfilment.id, owner.id, "核对发货地址")
    assert client.delete(f"/api/v1/me/addresses/{office['id']}", headers=owner.headers).status_code == 204
    left = client.get("/api/v1/me/addresses", headers=owner.headers).get_json()["items"]
    assert [(a["id"], a["is_default"]) for a in left] == [(home["id"], True)]  # the next one became default


def _paid_succeeded_campaign(client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(client, product, frozen_clock, moq=2)
    buyers = [members.create() for _ in range(3)]
    orders = []
    for number, buyer in enumerate(buyers):
        address = _address(client, buyer, recipient=f"收件人{number}", detail=f'=HYPERLINK("x") {number}')
        headers = {**buyer.headers, "Idempotency-Key": f"delivery-{number}"}
        body = {"option_id": campaign["options"][0]["id"], "address_id": address["id"]}
        order = client.post(f"/api/v1/presales/{campaign['id']}/orders", json=body, headers=headers).get_json()
        assert order["ship_to"]["recipient"] == f"收件人{number}" and order["region"] == "上海市"
        orders.append(order)
    for number, order in enumerate(orders[:2]):
        notify_payment(client, SECRET, order=order, event_id=f"p-{number}", at=int(clock.now().timestamp()))
    clock.advance(timedelta(days=8))
    client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
    return product, campaign, buyers, orders


def test_orders_keep_their_address_and_ship_with_a_tracking_number(app, client, members, frozen_clock):
    product, campaign, buyers, orders = _paid_succeeded_campaign(client, members, frozen_clock)
    fulfilment = members.create(role="fulfilment")
    # Editing the address book later does not move an order; choosing another address does, until it ships.
    first_address = client.get("/api/v1/me/addresses", headers=buyers[0].headers).get_json()["items"][0]
    client.put(f"/api/v1/me/addresses/{first_address['id']}", json=HOME, headers=buyers[0].headers)
    order = client.get(f"/api/v1/orders/{orders[0]['id']}", headers=buyers[0].headers).get_json()
    assert order["ship_to"]["recipient"] == "收件人0"
    moved = client.put(
        f"/api/v1/orders/{orders[0]['id']}/address", json={"address_id": first_address["id"]}, headers=buyers[0].headers
    )
    assert moved.get_json()["ship_to"]["recipient"] == HOME["recipient"]
    not_hers = client.put(
        f"/api/v1/orders/{orders[0]['id']}/address", json={"address_id": first_address["id"]}, headers=buyers[1].headers
    )
    assert not_hers.status_code == 404

    url = f"/api/v1/presales/{campaign['id']}/shipping"
    assert client.get(url, headers=product.headers).status_code == 403
    csv_text = client.get(url, headers=fulfilment.headers).get_data().decode("utf-8-sig")
    lines = csv_text.splitlines()
    assert lines[0].startswith("order_id,sku,option,quantity,recipient,phone,province")
    assert len(lines) == 3  # the two confirmed orders; the unpaid one is not shipped
    assert f"{orders[0]['id']},DRAGON-RED,红色,1,张小明,13812345678,上海市" in csv_text
    assert "'=HYPERLINK" in csv_text  # a cell that would run as a formula is kept as text
    sheet = load_workbook(io.BytesIO(client.get(f"{url}?format=xlsx", headers=fulfilment.headers).get_data())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("order_id", "sku", "option", "quantity") and len(rows) == 3
    assert rows[1][0] == orders[0]["id"] and rows[1][5] == "13812345678"
    with app.app_context():
        exports = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "presale.shipping_export")).all()
        assert len(exports) == 2 and {e.actor_id for e in exports} == {fulfilment.id}

    moved = client.post(
        f"/api/v1/presales/{campaign['id']}/state", json={"state": "in_production"}, headers=product.headers
    )
    assert moved.get_json()["status"] == "in_production"
    assert (
        client.get(f"/api/v1/orders/{orders[1]['id']}", headers=buyers[1].headers).get_json()["shipment_status"]
        == "in_production"
    )
    shipments = f"/api/v1/presales/{campaign['id']}/shipments"
    answer = client.post(
        shipments,
        json={
            "items": [
                {"order_id": orders[0]["id"], "carrier": "顺丰速运", "tracking_no": "SF1234567890"},
                {"order_id": orders[2]["id"], "carrier": "顺丰速运", "tracking_no": "SF0"},  # never paid
                {"order_id": orders[1]["id"], "status": "delivered"},  # not shipped yet
                {"order_id": orders[1]["id"]},  # shipped needs a carrier and a number
            ]
        },
        headers=fulfilment.headers,
    ).get_json()
    assert answer["updated"] == 1 and [e["line"] for e in answer["errors"]] == [2, 3, 4]
    mine = client.get(f"/api/v1/orders/{orders[0]['id']}", headers=buyers[0].headers).get_json()
    assert (mine["shipment_status"], mine["carrier"], mine["tracking_no"]) == ("shipped", "顺丰速运", "SF1234567890")
    notes = client.get("/api/v1/me/notifications", headers=buyers[0].headers).get_json()["items"]
    assert notes[0]["message"] == "你的订单已发货：顺丰速运 SF1234567890" and notes[0]["kind"] == "order"
    shipped_too_late = client.put(
        f"/api/v1/orders/{orders[0]['id']}/address", json={"address_id": first_address["id"]}, headers=buyers[0].headers
    )
    assert shipped_too_late.status_code == 409

    # The partner's CSV (saved by Excel in GB18030) ships the rest and marks the first delivered.
    partner = (
        "order_id,carrier,tracking_no,status\n"
        f"{orders[1]['id']},中通快递,ZT998877,shipped\n"
        f"{orders[0]['id']},,,delivered\n"
        "abc,中通快递,ZT1,shipped\n"
    ).encode("gb18030")
    uploaded = client.post(
        f"{shipments}/upload",
        data={"file": (io.BytesIO(partner), "partner.csv")},
        headers=fulfilment.headers,
        content_type="multipart/form-data",
    ).get_json()
    assert uploaded["updated"] == 2 and [e["line"] for e in uploaded["errors"]] == [3]
    second = client.get(f"/api/v1/orders/{orders[1]['id']}", headers=buyers[1].headers).get_json()
    assert (second["carrier"], second["tracking_no"]) == ("中通快递", "ZT998877")
    assert (
        client.get(f"/api/v1/orders/{orders[0]['id']}", headers=buyers[0].headers).get_json()["shipment_status"]
        == "delivered"
    )
    missing_columns = client.post(
        f"{shipments}/upload",
        data={"file": (io.BytesIO(b"id,number\n1,2\n"), "partner.csv")},
        headers=fulfilment.headers,
        content_type="multipart/form-data",
    )
    assert missing_columns.status_code == 422


def test_shipping_needs_a_succeeded_presale(client, members, frozen_clock):
    product, fulfilment = members.create(role="product"), members.create(role="fulfilment")
    campaign = _campaign(client, product, frozen_clock)
    assert client.get(f"/api/v1/presales/{campaign['id']}/shipping", headers=fulfilment.headers).status_code == 409
    refused = client.post(
        f"/api/v1/presales/{campaign['id']}/shipments",
        json={"items": [{"order_id": 1, "carrier": "x", "tracking_no": "y"}]},
        headers=fulfilment.headers,
    )
    assert refused.status_code == 409
    buyer = members.create()
    other = members.create()
    address = _address(client, other)
    foreign = _order(client, buyer, campaign)
    assert foreign.status_code == 201
    headers = {**buyer.headers, "Idempotency-Key": "foreign-address"}
    body = {"option_id": campaign["options"][0]["id"], "address_id": address["id"]}
    assert client.post(f"/api/v1/presales/{campaign['id']}/orders", json=body, headers=headers).status_code == 404
