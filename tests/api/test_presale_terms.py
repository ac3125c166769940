"""The pre-sale terms a brand uses: deposit then balance, per-SKU prices and caps, options from a poll."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from c2b.presale import Campaign, Order, RefundRequest
from kernel import clock
from kernel.db import db
from tests.api.test_ideas import _published
from tests.api.test_presale import SECRET, _campaign, _order
from tests.conftest import postgres_only
from tests.fakes import FakePaymentProvider
from tests.support import notify_payment, run_concurrently


@pytest.fixture()
def approved_idea(client, members, png_bytes, settings):
    """An idea that passed review: published, supported past its only milestone, approved with feedback."""
    settings(IDEA_MILESTONES=[[2, None]], IDEA_VERIFIED_MIN_LEVEL=1, IDEA_VERIFIED_MIN_AGE_DAYS=0)

    def make(supporters=None):
        idea, creator = _published(client, members, png_bytes)
        for fan in supporters or [members.create(), members.create()]:
            client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=fan.headers)
        product = members.create(role="product")
        url = f"/api/v1/ideas/{idea['id']}/decision"
        client.post(url, json={"decision": "start_review"}, headers=product.headers)
        approved = client.post(url, json={"decision": "approve", "feedback": "明年量产"}, headers=product.headers)
        assert approved.get_json()["status"] == "approved", approved.get_json()
        return {**approved.get_json(), "creator": creator}

    return make


def _deposit_campaign(client, product, start, **fields) -> dict:
    return _campaign(
        client,
        product,
        start,
        deposit_cents=5000,
        balance_due_at=(start + timedelta(days=10)).isoformat(),
        **fields,
    )


def _pay(client, order, event_id, stage="first", **fields) -> str:
    answer = notify_payment(
        client, SECRET, order=order, event_id=event_id, stage=stage, at=int(clock.now().timestamp()), **fields
    )
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["outcome"]


def _status(client, member, order) -> str:
    return client.get(f"/api/v1/orders/{order['id']}", headers=member.headers).get_json()["status"]


def _messages(client, member) -> list[str]:
    return [n["message"] for n in client.get("/api/v1/me/notifications", headers=member.headers).get_json()["items"]]


def test_deposit_then_balance_confirms_only_fully_paid_orders(app, client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _deposit_campaign(client, product, frozen_clock, moq=3)
    assert campaign["deposit_policy"] == "forfeit" and campaign["balance_due_at"]
    payer, forfeiter, latecomer, never = (members.create() for _ in range(4))
    orders = {
        "payer": _order(client, payer, campaign, quantity=2).get_json(),
        "forfeiter": _order(client, forfeiter, campaign).get_json(),
        "latecomer": _order(client, latecomer, campaign).get_json(),
        "never": _order(client, never, campaign).get_json(),
    }
    first = orders["payer"]
    assert (first["amount_cents"], first["balance_cents"]) == (2 * 5000, 2 * (29900 - 5000))
    # The balance cannot be paid before its window: the notification is for a charge the order does not owe yet.
    for name in ("payer", "forfeiter", "latecomer"):
        assert _pay(client, orders[name], f"dep-{name}") == "paid"
    assert _status(client, payer, first) == "deposit_paid"
    clock.advance(timedelta(days=8))
    closed = client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).get_json()
    # MOQ 3 counted on deposits: 4 units paid a deposit, so the balance window opens instead of success.
    assert closed["status"] == "balance_due" and closed["paid_quantity"] == 4
    assert _status(client, never, orders["never"]) in ("expired", "cancelled")
    assert any("请在" in m and "尾款" in m for m in _messages(client, payer))
    early = client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "balance_window_open"
    wrong = _pay(client, first, "bal-wrong", stage="balance", amount_cents=first["balance_cents"] - 1)
    assert wrong == "amount_mismatch" and _status(client, payer, first) == "deposit_paid"
    assert _pay(client, first, "bal-payer", stage="balance") == "balance_paid"
    assert _pay(client, first, "bal-payer", stage="balance") == "balance_paid"  # a duplicate repeats its outcome
    assert _status(client, payer, first) == "paid"
    # 24 hours before the deadline, whoever still owes the balance is reminded, once.
    clock.advance(timedelta(days=1, hours=1))
    runner = app.test_cli_runner()
    assert "reminded 1 pre-sale(s)" in runner.invoke(args=["presale", "remind-balance"]).output
    assert "reminded 0 pre-sale(s)" in runner.invoke(args=["presale", "remind-balance"]).output
    assert any("尾款将于" in m and "不予退还" in m for m in _messages(client, forfeiter))
    assert not any("尾款将于" in m for m in _messages(client, payer))
    clock.advance(timedelta(days=1))
    assert "settled 1 pre-sale(s)" in runner.invoke(args=["presale", "settle"]).output
    settled = client.get(f"/api/v1/presales/{campaign['id']}").get_json()
    assert settled["status"] == "succeeded"
    assert _status(client, payer, first) == "confirmed"
    assert _status(client, forfeiter, orders["forfeiter"]) == "forfeited"
    assert any("定金按规则不予退还" in m for m in _messages(client, forfeiter))
    # A balance that arrives after the deadline goes back; the forfeited deposit stays forfeited.
    assert _pay(client, orders["latecomer"], "bal-late", stage="balance") == "refund_late_balance"
    assert _status(client, latecomer, orders["latecomer"]) == "forfeited"
    manifest = client.get(f"/api/v1/presales/{campaign['id']}/manifest", headers=product.headers).get_json()
    assert manifest["total_units"] == 2  # fully paid units only
    anomalies = client.get("/api/v1/payments/anomalies", headers=product.headers).get_json()["items"]
    assert {a["outcome"] for a in anomalies} == {"amount_mismatch", "refund_late_balance"}
    assert client.get("/api/v1/payments/anomalies", headers=payer.headers).status_code == 403
    mismatch = next(a for a in anomalies if a["outcome"] == "amount_mismatch")
    url = f"/api/v1/payments/anomalies/{mismatch['id']}/resolve"
    assert client.post(url, json={"resolution": "   "}, headers=product.headers).status_code == 422
    done = client.post(url, json={"resolution": "渠道重复扣款，已人工退回"}, headers=product.headers).get_json()
    assert done["resolved_by"] == product.id and done["resolution"] == "渠道重复扣款，已人工退回"
    assert client.post(url, json={"resolution": "again"}, headers=product.headers).status_code == 409
    left = client.get("/api/v1/payments/anomalies", headers=product.headers).get_json()["items"]
    assert [a["outcome"] for a in left] == ["refund_late_balance"]
    every = client.get("/api/v1/payments/anomalies?unresolved=false", headers=product.headers).get_json()["items"]
    assert len(every) == 2
    assert (
        client.post(
            "/api/v1/payments/anomalies/999999/resolve", json={"resolution": "x"}, headers=product.headers
        ).status_code
        == 404
    )


def test_refund_policy_returns_unpaid_deposits_once(app, client, members, frozen_clock, settings):
    provider = FakePaymentProvider(secret=SECRET).start()
    settings(PAYMENT_API_BASE=provider.base_url)
    try:
        product, payer, skipper = members.create(role="product"), members.create(), members.create()
        campaign = _deposit_campaign(client, product, frozen_clock, moq=2, deposit_policy="refund")
        paid, skipped = _order(client, payer, campaign).get_json(), _order(client, skipper, campaign).get_json()
        _pay(client, paid, "d1")
        _pay(client, skipped, "d2")
        clock.advance(timedelta(days=8))
        client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
        _pay(client, paid, "b1", stage="balance")
        clock.advance(timedelta(days=3))
        done = client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).get_json()
        assert done["status"] == "succeeded"
        assert _status(client, skipper, skipped) == "refund_pending"
        runner = app.test_cli_runner()
        assert "sent 1 refund(s)" in runner.invoke(args=["presale", "send-refunds"]).output
        assert runner.invoke(args=["presale", "send-refunds"]).output.startswith("sent 0")
        assert [(r["order_id"], r["stage"], r["amount_cents"]) for r in provider.refunds] == [
            (skipped["id"], "first", 5000)
        ]
        assert _pay(client, skipped, "r1", kind="refund.succeeded") == "refunded"
        assert _status(client, skipper, skipped) == "refunded"
        assert any("退款已完成：50.00 CNY" in m for m in _messages(client, skipper))
    finally:
        provider.stop()


def test_a_failed_deposit_campaign_refunds_deposits(client, members, frozen_clock):
    product, buyer = members.create(role="product"), members.create()
    campaign = _deposit_campaign(client, product, frozen_clock, moq=5)
    order = _order(client, buyer, campaign).get_json()
    _pay(client, order, "d-fail")
    clock.advance(timedelta(days=8))
    assert (
        client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).get_json()["status"]
        == "failed"
    )
    assert _status(client, buyer, order) == "refund_pending"
    assert any("未达起订量" in m for m in _messages(client, buyer))


def test_deposit_terms_are_checked(client, members, frozen_clock):
    product = members.create(role="product")
    base = {
        "title": "定金规则",
        "unit_price_cents": 10000,
        "moq": 1,
        "opens_at": frozen_clock.isoformat(),
        "closes_at": (frozen_clock + timedelta(days=7)).isoformat(),
        "options": [{"sku": "A", "name": "A"}, {"sku": "B", "name": "B", "price_cents": 6000}],
    }
    due = (frozen_clock + timedelta(days=9)).isoformat()
    cases = [
        ({"deposit_cents": 1000}, "balance_due_at"),  # a deposit needs a balance deadline
        ({"deposit_cents": 6000, "balance_due_at": due}, "deposit_cents"),  # not below option B's price
        (
            {"deposit_cents": 1000, "balance_due_at": (frozen_clock + timedelta(days=7, hours=3)).isoformat()},
            "balance_due_at",
        ),
        ({"balance_due_at": due}, "balance_due_at"),  # a deadline without a deposit
        ({"options": [{"sku": "A", "name": "A"}, {"sku": "A", "name": "again"}]}, "options"),
        ({"deposit_policy": "keep"}, "deposit_policy"),
    ]
    for change, field in cases:
        refused = client.post("/api/v1/presales", json={**base, **change}, headers=product.headers)
        assert refused.status_code == 422, (change, refused.get_json())
        assert field in refused.get_json()["error"]["details"], (change, refused.get_json())


def test_each_sku_has_its_price_and_its_cap(client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(
        client,
        product,
        frozen_clock,
        options=[
            {"sku": "STD", "name": "标准版"},
            {"sku": "LTD", "name": "限定版", "price_cents": 59900, "stock_cap": 2},
        ],
    )
    by_sku = {o["sku"]: o for o in campaign["options"]}
    assert by_sku["STD"]["price_cents"] == 29900 and by_sku["LTD"]["price_cents"] == 59900
    fans = [members.create() for _ in range(3)]
    limited = _order(client, fans[0], campaign, option=1, quantity=2).get_json()
    assert limited["unit_price_cents"] == 59900 and limited["amount_cents"] == 2 * 59900
    sold_out = _order(client, fans[1], campaign, option=1)
    assert sold_out.status_code == 409 and sold_out.get_json()["error"]["code"] == "sold_out"
    assert _order(client, fans[1], campaign, option=0).status_code == 201  # the other SKU still sells
    after = client.get(f"/api/v1/presales/{campaign['id']}").get_json()
    assert {o["sku"]: o["reserved_quantity"] for o in after["options"]} == {"STD": 1, "LTD": 2}
    assert after["reserved_quantity"] == 3
    client.delete(f"/api/v1/orders/{limited['id']}", headers=fans[0].headers)  # cancelling gives the units back
    assert _order(client, fans[2], campaign, option=1).status_code == 201


def test_polls_close_early_seed_options_and_filter_by_idea(client, members, frozen_clock, approved_idea):
    product, fan = members.create(role="product"), members.create()
    idea = approved_idea()
    poll = client.post(
        "/api/v1/polls",
        json={
            "title": "选配色",
            "idea_id": idea["id"],
            "closes_at": (frozen_clock + timedelta(days=5)).isoformat(),
            "options": [{"name": "朱红"}, {"name": "青绿"}],
        },
        headers=product.headers,
    ).get_json()
    winner = poll["options"][1]["id"]
    client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": winner}, headers=fan.headers)
    body = {
        "title": "首发",
        "idea_id": idea["id"],
        "poll_id": poll["id"],
        "unit_price_cents": 19900,
        "moq": 1,
        "opens_at": (frozen_clock + timedelta(days=1)).isoformat(),
        "closes_at": (frozen_clock + timedelta(days=9)).isoformat(),
        "options": [{"sku": "GREEN", "poll_option_id": winner}],
    }
    still_open = client.post("/api/v1/presales", json=body, headers=product.headers)
    assert still_open.status_code == 409 and still_open.get_json()["error"]["code"] == "poll_open"
    assert client.post(f"/api/v1/polls/{poll['id']}/close", headers=fan.headers).status_code == 403
    closed = client.post(f"/api/v1/polls/{poll['id']}/close", headers=product.headers).get_json()
    assert closed["open"] is False and closed["options"][1]["vote_count"] == 1
    assert client.post(f"/api/v1/polls/{poll['id']}/close", headers=product.headers).status_code == 409
    created = client.post("/api/v1/presales", json=body, headers=product.headers)
    assert created.status_code == 201, created.get_json()
    option = created.get_json()["options"][0]
    assert (option["name"], option["poll_option_id"]) == ("青绿", winner)
    assert created.get_json()["creator"]["idea_id"] == idea["id"]
    other = {**body, "options": [{"sku": "X", "poll_option_id": 999999}]}
    assert client.post("/api/v1/presales", json=other, headers=product.headers).status_code == 422
    assert [p["id"] for p in client.get(f"/api/v1/polls?idea_id={idea['id']}").get_json()["items"]] == [poll["id"]]
    assert client.get(f"/api/v1/polls?idea_id={idea['id'] + 1000}").get_json()["items"] == []
    mine = client.get(f"/api/v1/presales?idea_id={idea['id']}", headers=product.headers).get_json()["items"]
    assert [c["id"] for c in mine] == [created.get_json()["id"]]


def test_balance_needs_the_window_and_wechat_pay_charges_it_separately(client, members, frozen_clock):
    """The balance is its own charge: paying it through WeChat Pay uses its own trade number, only in the window."""
    from c2b.payments import order_of_trade, out_trade_no
    from c2b.presale import Order

    product, buyer = members.create(role="product"), members.create()
    campaign = _deposit_campaign(client, product, frozen_clock, moq=1)
    order = _order(client, buyer, campaign, key=uuid.uuid4().hex).get_json()
    _pay(client, order, "dep")
    refused = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "order_not_payable"
    row = Order(id=order["id"])
    assert order_of_trade(out_trade_no(row, "balance")) == (order["id"], "balance")
    assert order_of_trade(out_trade_no(row)) == (order["id"], "first")
    assert order_of_trade("PB12") is None and order_of_trade("XX0000000001") is None


@postgres_only
def test_a_rush_on_a_capped_sku_sells_exactly_its_cap(app, client, members, frozen_clock):
    product = members.create(role="product")
    campaign = _campaign(
        client,
        product,
        frozen_clock,
        stock_cap=100,
        per_member_limit=2,
        options=[{"sku": "STD", "name": "标准"}, {"sku": "LTD", "name": "限定", "price_cents": 59900, "stock_cap": 15}],
    )
    buyers = [members.create() for _ in range(40)]

    def buy(member, option):
        return lambda c: _order(c, member, campaign, option=option).status_code

    codes = run_concurrently(app, [buy(m, 1) for m in buyers] + [buy(m, 0) for m in buyers[:20]])
    assert codes.count(201) == 15 + 20 and codes.count(409) == 25
    after = client.get(f"/api/v1/presales/{campaign['id']}").get_json()
    assert {o["sku"]: o["reserved_quantity"] for o in after["options"]} == {"STD": 20, "LTD": 15}
    assert after["reserved_quantity"] == 35
    with app.app_context():
        live = db.session.execute(
            select(Order.option_id, func.sum(Order.quantity))
            .where(Order.campaign_id == campaign["id"], Order.status == "pending_payment")
            .group_by(Order.option_id)
        ).all()
        assert {option: int(units) for option, units in live} == {
            o["id"]: o["reserved_quantity"] for o in after["options"]
        }


@postgres_only
def test_balances_racing_the_deadline_are_either_confirmed_or_refunded(app, client, members, frozen_clock):
    """Balance notifications (each sent twice) race the settlement at the deadline: every order ends confirmed
    with its balance kept, or forfeited with its balance owed back — never both, never neither."""
    product = members.create(role="product")
    campaign = _deposit_campaign(client, product, frozen_clock, moq=1, per_member_limit=1)
    buyers = [members.create() for _ in range(16)]
    orders = [_order(client, buyer, campaign).get_json() for buyer in buyers]
    for number, order in enumerate(orders):
        _pay(client, order, f"race-dep-{number}")
    clock.advance(timedelta(days=8))
    client.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers)
    clock.advance(timedelta(days=2, hours=1))  # past the balance deadline, settlement not yet run

    def balance(number):
        return lambda c: notify_payment(
            c,
            SECRET,
            order=orders[number],
            event_id=f"race-bal-{number}",
            stage="balance",
            at=int(clock.now().timestamp()),
        ).get_json()["outcome"]

    def settle(c):
        return c.post(f"/api/v1/presales/{campaign['id']}/close", headers=product.headers).status_code

    outcomes = run_concurrently(app, [balance(n) for n in range(16)] * 2 + [settle] * 4)
    assert outcomes.count(200) == 4  # every settle call answers the settled campaign; one of them settled it
    with app.app_context():
        rows = db.session.scalars(select(Order).where(Order.campaign_id == campaign["id"])).all()
        refunds = {
            r.order_id: r for r in db.session.scalars(select(RefundRequest).where(RefundRequest.stage == "balance"))
        }
        for order in rows:
            assert order.status in ("confirmed", "forfeited"), order.status
            assert order.balance_paid_at is None or order.status == "confirmed" or order.id in refunds
            assert (order.status == "confirmed") == (order.id not in refunds)
        kept = db.session.get(Campaign, campaign["id"])
        assert kept.state == "succeeded"
        assert kept.paid_quantity == sum(o.quantity for o in rows if o.status == "confirmed")
