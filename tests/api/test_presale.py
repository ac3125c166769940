import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from kernel import clock
from kernel.db import db
from tests.conftest import postgres_only
from tests.fakes import FakePaymentProvider
from tests.support import notify_payment, statements

SECRET = "test-webhook-secret"


def _draft(client, product, start: datetime, **fields) -> dict:
    body = {
        "title": "龙舟拼装套装",
        "unit_price_cents": 29900,
        "moq": 3,
        "opens_at": start.isoformat(),
        "closes_at": (start + timedelta(days=7)).isoformat(),
        "options": [{"sku": "DRAGON-RED", "name": "红色"}, {"sku": "DRAGON-GOLD", "name": "金色"}],
        **fields,
    }
    created = client.post("/api/v1/presales", json=body, headers=product.headers)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def _campaign(client, product, start: datetime, **fields) -> dict:
    campaign = _draft(client, product, start, **fields)
    published = client.post(
        f"/api/v1/presales/{campaign['id']}/state", json={"state": "published"}, headers=product.headers
    )
    assert published.status_code == 200, published.get_json()
    return published.get_json()


def _order(client, member, campaign, option=0, quantity=1, region="上海", key=None):
    headers = {**member.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return client.post(
        f"/api/v1/presales/{campaign['id']}/orders",
        headers=headers,
        json={"option_id": campaign["options"][option]["id"], "quantity": quantity, "region": region},
    )


def _pay(client, order, event_id):
    response = notify_payment(client, SECRET, order=order, event_id=event_id, at=int(clock.now().timestamp()))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["outcome"]


def test_sample_poll_votes_once_with_live_results(client, members, frozen_clock, set_level):
    product, member, newbie = members.create(role="product"), members.create(), members.create()
    set_level(member.id, 2)
    body = {
        "title": "选出你最喜欢的样品",
        "closes_at": (frozen_clock + timedelta(days=3)).isoformat(),
        "min_level": 2,
        "options": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
    }
    assert client.post("/api/v1/polls", json=body, headers=member.headers).status_code == 403
    assert (
        client.post("/api/v1/polls", json={**body, "options": [{"name": "only"}]}, headers=product.headers).status_code
        == 422
    )
    poll = client.post("/api/v1/polls", json=body, headers=product.headers).get_json()
    option_b = poll["options"][1]["id"]
    voted = client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": option_b}, headers=member.headers)
    assert voted.status_code == 200 and voted.get_json()["my_vote"] == option_b
    assert voted.get_json()["options"][1]["share"] == 1.0
    again = client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": option_b}, headers=member.headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_voted"
    assert (
        client.post(
            f"/api/v1/polls/{poll['id']}/vote", json={"option_id": option_b}, headers=newbie.headers
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": 99999}, headers=member.headers).status_code
        == 422
    )
    clock.advance(timedelta(days=4))
    set_level(product.id, 2)
    late = client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": option_b}, headers=product.headers)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "poll_closed"


def test_successful_presale_from_orders_to_manifest(app, client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(client, product, frozen_clock)
    assert campaign["status"] == "open"
    buyers = [members.create() for _ in range(4)]
    orders = [
        _order(client, buyers[0], campaign, 0, 2, "上海").get_json(),
        _order(client, buyers[1], campaign, 1, 1, "北京").get_json(),
        _order(client, buyers[2], campaign, 0, 1, "上海").get_json(),
        _order(client, buyers[3], campaign, 0, 1, "广州").get_json(),
    ]
    assert orders[0]["amount_cents"] == 2 * 29900 and orders[0]["status"] == "pending_payment"
    for i, order in enumerate(orders[:3]):
        assert _pay(client, order, f"evt-{i}") == "paid"
    assert _pay(client, orders[0], "evt-0") == "paid"  # a duplicate returns the first outcome
    assert client.get("/api/v1/me/points", headers=buyers[0].headers).get_json()["balance"] == 0  # money ≠ points
    early_close = client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
    assert early_close.status_code == 409
    clock.advance(timedelta(days=8))
    closed = client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).get_json()
    assert closed["status"] == "succeeded" and closed["paid_quantity"] == 4
    assert (
        client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).get_json()["status"]
        == "succeeded"
    )
    statuses = [
        client.get(f"/api/v1/orders/{o['id']}", headers=b.headers).get_json()["status"]
        for o, b in zip(orders, buyers, strict=True)
    ]
    assert statuses == ["confirmed", "confirmed", "confirmed", "expired"]  # never paid: its window lapsed
    notes = client.get("/api/v1/me/notifications", headers=buyers[0].headers).get_json()["items"]
    assert "成团成功" in notes[0]["message"]
    manifest = client.get(f"/api/v1/presales/{campaign['id']}/manifest", headers=product.headers).get_json()
    assert manifest["total_units"] == 4
    assert {s["sku"]: s["units"] for s in manifest["by_sku"]} == {"DRAGON-RED": 3, "DRAGON-GOLD": 1}
    assert {r["region"]: r["units"] for r in manifest["by_region"]} == {"上海": 3, "北京": 1}
    csv_text = (
        client.get(f"/api/v1/presales/{campaign['id']}/manifest?format=csv", headers=product.headers)
        .get_data()
        .decode("utf-8-sig")
    )
    assert csv_text.splitlines()[0] == "sku,name,region,units,orders" and "DRAGON-RED,红色,上海,3,2" in csv_text
    assert client.get(f"/api/v1/presales/{campaign['id']}/manifest", headers=buyers[0].headers).status_code == 403
    for state in ("in_production", "shipped"):
        moved = client.post(f"/api/v1/presales/{campaign['id']}/state", json={"state": state}, headers=product.headers)
        assert moved.get_json()["status"] == state
    with app.app_context():
        from economy.ledger import verify

        assert verify() == []


def test_failed_presale_refunds_through_the_provider(app, client, members, frozen_clock, settings):
    provider = FakePaymentProvider(secret=SECRET).start()
    settings(PAYMENT_API_BASE=provider.base_url)
    try:
        product = members.create(role="product")
        campaign = _campaign(client, product, frozen_clock, moq=10)
        buyer = members.create()
        order = _order(client, buyer, campaign, quantity=2).get_json()
        _pay(client, order, "evt-fail-1")
        clock.advance(timedelta(days=8))
        result = app.test_cli_runner().invoke(args=["presale", "settle"])
        assert "settled 1 pre-sale(s)" in result.output
        assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["status"] == "failed"
        assert (
            client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "refund_pending"
        )
        assert (
            "全额退回"
            in client.get("/api/v1/me/notifications", headers=buyer.headers).get_json()["items"][0]["message"]
        )
        sent = app.test_cli_runner().invoke(args=["presale", "send-refunds"])
        assert "sent 1 refund(s), 0 failed" in sent.output
        assert provider.refunds[0]["amount_cents"] == 2 * 29900 and provider.refunds[0]["order_id"] == order["id"]
        assert app.test_cli_runner().invoke(args=["presale", "send-refunds"]).output.startswith("sent 0")
        refund_note = notify_payment(
            client,
            SECRET,
            order=order,
            event_id="evt-refund-1",
            kind="refund.succeeded",
            at=int(clock.now().timestamp()),
        )
        assert refund_note.get_json()["outcome"] == "refunded"
        assert client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "refunded"
        assert client.get(f"/api/v1/presales/{campaign['id']}/manifest", headers=product.headers).status_code == 409
    finally:
        provider.stop()


def test_refunds_that_the_provider_refuses_are_retried(app, client, members, frozen_clock, settings):
    provider = FakePaymentProvider(secret=SECRET, fail=True).start()
    settings(PAYMENT_API_BASE=provider.base_url)
    try:
        product, buyer = members.create(role="product"), members.create()
        campaign = _campaign(client, product, frozen_clock)
        order = _order(client, buyer, campaign).get_json()
        _pay(client, order, "evt-r-1")
        client.delete(f"/api/v1/orders/{order['id']}", headers=buyer.headers)
        assert app.test_cli_runner().invoke(args=["presale", "send-refunds"]).exit_code == 1
        provider.fail = False
        assert "sent 1 refund(s)" in app.test_cli_runner().invoke(args=["presale", "send-refunds"]).output
    finally:
        provider.stop()


def test_webhook_signatures_replays_duplicates_and_amounts(client, members, frozen_clock, settings):
    product, buyer = members.create(role="product"), members.create()
    campaign = _campaign(client, product, frozen_clock)
    order = _order(client, buyer, campaign).get_json()
    now = int(clock.now().timestamp())
    forged = notify_payment(client, "wrong-secret", order=order, event_id="evt-x", at=now)
    assert forged.status_code == 401 and forged.get_json()["error"]["code"] == "bad_signature"
    stale = notify_payment(client, SECRET, order=order, event_id="evt-old", at=now - 3600)
    assert stale.status_code == 401 and stale.get_json()["error"]["code"] == "stale_signature"
    unsigned = client.post("/api/v1/payments/notify", json={"event_id": "e"})
    assert unsigned.status_code == 401
    cheap = notify_payment(client, SECRET, order=order, event_id="evt-cheap", amount_cents=1, at=now)
    assert cheap.get_json()["outcome"] == "amount_mismatch"
    wrong_currency = notify_payment(client, SECRET, order=order, event_id="evt-usd", currency="USD", at=now)
    assert wrong_currency.get_json()["outcome"] == "amount_mismatch"
    assert client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "pending_payment"
    assert _pay(client, order, "evt-ok") == "paid"
    assert _pay(client, order, "evt-ok-2") == "already_paid"
    from c2b.payments import sign

    body = b'{"event_id": "e", "type": "payment.succeeded"}'
    bad = client.post(
        "/api/v1/payments/notify",
        data=body,
        content_type="application/json",
        headers={"X-Payment-Signature": sign(SECRET, now, body)},
    )
    assert bad.status_code == 422
    settings(PAYMENT_WEBHOOK_SECRET="")
    assert notify_payment(client, SECRET, order=order, event_id="evt-z", at=now).status_code == 503


def test_unpaid_orders_expire_and_late_money_goes_back(app, client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(client, product, frozen_clock, stock_cap=1)
    first, second = members.create(), members.create()
    order = _order(client, first, campaign).get_json()
    sold_out = _order(client, second, campaign)
    assert sold_out.status_code == 409 and sold_out.get_json()["error"]["code"] == "sold_out"
    clock.advance(timedelta(minutes=31))
    assert _order(client, second, campaign).status_code == 201  # the stalled unit came back
    assert client.get(f"/api/v1/orders/{order['id']}", headers=first.headers).get_json()["status"] == "expired"
    assert _pay(client, order, "evt-late") == "refund_late_payment"
    assert client.get(f"/api/v1/orders/{order['id']}", headers=first.headers).get_json()["status"] == "refund_pending"
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["reserved_quantity"] == 1
    assert "expired 0 order(s)" in app.test_cli_runner().invoke(args=["presale", "expire-orders"]).output


def test_a_sold_out_answer_locks_nothing_and_tries_no_reservation(app, client, members, frozen_clock):
    """Most of a rush hears "sold out": it is answered from the campaign and the SKU as read, before the buyer's row
    is locked or a reservation is tried (the conditional reservations still decide every order that goes on)."""
    product = members.create(role="product")
    options = [{"sku": "STD", "name": "标准版"}, {"sku": "LTD", "name": "限定版", "stock_cap": 1}]
    campaign = _campaign(client, product, frozen_clock, stock_cap=3, options=options)
    fans = [members.create() for _ in range(4)]
    assert _order(client, fans[0], campaign, option=1).status_code == 201

    def refused(fan, option) -> dict:
        with statements(app, until_commit=False) as seen:
            answer = _order(client, fan, campaign, option=option)
        assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "sold_out"
        locking = [s for s in seen if " FOR " in s.upper() or s.lstrip().upper().startswith("UPDATE PRESALE_")]
        assert not locking, locking
        return answer.get_json()["error"]["details"]

    assert refused(fans[1], 1) == {"option_id": campaign["options"][1]["id"]}  # the SKU's cap
    assert _order(client, fans[1], campaign).status_code == 201
    assert _order(client, fans[2], campaign).status_code == 201
    assert refused(fans[3], 0) == {}  # the campaign's cap
    after = client.get(f"/api/v1/presales/{campaign['id']}").get_json()
    assert after["reserved_quantity"] == 3 and [o["reserved_quantity"] for o in after["options"]] == [2, 1]


def test_cancel_limits_keys_and_ownership(client, members, frozen_clock):
    product, buyer, other = members.create(role="product"), members.create(), members.create()
    campaign = _campaign(client, product, frozen_clock, per_member_limit=2, stock_cap=10)
    first = _order(client, buyer, campaign, key="order-key-0001").get_json()
    assert _order(client, buyer, campaign, key="order-key-0001").get_json()["id"] == first["id"]
    assert _order(client, buyer, campaign, quantity=2).get_json()["error"]["code"] == "order_limit"
    assert client.delete(f"/api/v1/orders/{first['id']}", headers=other.headers).status_code == 404
    assert client.get(f"/api/v1/orders/{first['id']}", headers=other.headers).status_code == 404
    assert client.delete(f"/api/v1/orders/{first['id']}", headers=buyer.headers).get_json()["status"] == "cancelled"
    paid = _order(client, buyer, campaign, quantity=2).get_json()
    _pay(client, paid, "evt-c-1")
    assert client.delete(f"/api/v1/orders/{paid['id']}", headers=buyer.headers).get_json()["status"] == "refund_pending"
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["paid_quantity"] == 0
    clock.advance(timedelta(days=8))
    late = _order(client, buyer, campaign)
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "presale_not_open"


def test_early_access_for_supporters_and_voters(client, members, frozen_clock, settings, png_bytes):
    product = members.create(role="product")
    voter, stranger = members.create(), members.create()
    poll = client.post(
        "/api/v1/polls",
        headers=product.headers,
        json={
            "title": "样品投票",
            "closes_at": (frozen_clock + timedelta(days=1)).isoformat(),
            "options": [{"name": "A"}, {"name": "B"}],
        },
    ).get_json()
    client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": poll["options"][0]["id"]}, headers=voter.headers)
    campaign = _campaign(
        client,
        product,
        frozen_clock + timedelta(days=2),
        poll_id=poll["id"],
        early_access_at=(frozen_clock + timedelta(days=1)).isoformat(),
        early_access={"poll_voters": True},
    )
    assert campaign["status"] == "scheduled"
    assert _order(client, voter, campaign).status_code == 409  # early window not yet open
    clock.advance(timedelta(days=1, hours=1))
    assert _order(client, voter, campaign).status_code == 201
    assert _order(client, stranger, campaign).get_json()["error"]["code"] == "presale_not_open"
    clock.advance(timedelta(days=1))
    assert _order(client, stranger, campaign).status_code == 201


def test_campaign_validation_and_permissions(client, members, frozen_clock):
    product, member = members.create(role="product"), members.create()
    start = frozen_clock
    base = {
        "title": "x",
        "unit_price_cents": 100,
        "moq": 1,
        "opens_at": start.isoformat(),
        "closes_at": (start + timedelta(days=1)).isoformat(),
        "options": [{"sku": "A", "name": "a"}],
    }
    assert client.post("/api/v1/presales", json=base, headers=member.headers).status_code == 403
    assert (
        client.post(
            "/api/v1/presales", json={**base, "closes_at": start.isoformat()}, headers=product.headers
        ).status_code
        == 422
    )
    assert (
        client.post("/api/v1/presales", json={**base, "deposit_cents": 500}, headers=product.headers).status_code == 422
    )
    assert client.post("/api/v1/presales", json={**base, "idea_id": 999}, headers=product.headers).status_code == 404
    draft = client.post("/api/v1/presales", json=base, headers=product.headers).get_json()
    assert client.get(f"/api/v1/presales/{draft['id']}").status_code == 404  # drafts are private
    assert client.get(f"/api/v1/presales/{draft['id']}", headers=product.headers).get_json()["status"] == "draft"
    assert (
        client.post(
            f"/api/v1/presales/{draft['id']}/state", json={"state": "shipped"}, headers=product.headers
        ).status_code
        == 409
    )


@postgres_only
def test_a_rush_of_buyers_sells_exactly_the_stock(app, client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1), stock_cap=20, per_member_limit=1)
    clock.set_now(None)
    buyers = [members.create() for _ in range(60)]
    barrier = threading.Barrier(len(buyers))
    codes = []

    def buy(member):
        c = app.test_client()
        barrier.wait()
        codes.append(_order(c, member, campaign).status_code)

    threads = [threading.Thread(target=buy, args=(b,)) for b in buyers]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert time.monotonic() - started < 120
    assert codes.count(201) == 20 and codes.count(409) == 40
    with app.app_context():
        from c2b.presale import Campaign, Order

        assert db.session.get(Campaign, campaign["id"]).reserved_quantity == 20
        assert db.session.scalar(select(func.sum(Order.quantity)).where(Order.campaign_id == campaign["id"])) == 20


def test_placing_an_order_requires_an_idempotency_key_and_a_double_tap_orders_once(client, members):
    product, buyer = members.create(role="product"), members.create()
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1))
    body = {"option_id": campaign["options"][0]["id"], "quantity": 1, "region": "上海"}
    keyless = client.post(f"/api/v1/presales/{campaign['id']}/orders", json=body, headers=buyer.headers)
    assert keyless.status_code == 422 and "Idempotency-Key" in keyless.get_json()["error"]["details"]
    first, again = (_order(client, buyer, campaign, key="double-tap-0001") for _ in range(2))
    assert first.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["reserved_quantity"] == 1
