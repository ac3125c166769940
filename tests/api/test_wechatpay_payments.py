"""Paying a pre-sale order in the mini-program with WeChat Pay, against a fake WeChat Pay on 127.0.0.1."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from kernel import clock
from kernel.db import db
from tests.api.test_presale import _campaign, _order
from tests.support import link_wechat, wechatpay_notify


def test_a_member_pays_in_the_mini_program_and_the_notification_confirms_it_once(app, client, members, wechatpay):
    product, buyer = members.create(role="product"), members.create("wxbuyer")
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1))
    order = _order(client, buyer, campaign, key="wx-order-0001").get_json()

    unlinked = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers)
    assert unlinked.status_code == 409 and unlinked.get_json()["error"]["code"] == "wechat_not_linked"
    link_wechat(app, buyer.id, "o-wx-buyer")
    started = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers)
    assert started.status_code == 200, started.get_json()
    params = started.get_json()
    assert params["package"].startswith("prepay_id=wx") and params["signType"] == "RSA"
    sent = wechatpay.transactions[params["out_trade_no"]]
    assert sent["amount"]["total"] == order["amount_cents"] and sent["payer"]["openid"] == "o-wx-buyer"
    assert client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=members.create().headers).status_code == 404

    wechatpay.pay(params["out_trade_no"])
    headers, body = wechatpay.notification("TRANSACTION.SUCCESS", wechatpay.transaction(params["out_trade_no"]))
    tampered = wechatpay_notify(client, headers, body.replace(b'"summary"', b'"summery"'))
    assert tampered.status_code == 401
    first = wechatpay_notify(client, headers, body)
    assert first.status_code == 200 and first.get_json()["outcome"] == "paid"
    assert wechatpay_notify(client, headers, body).get_json() == first.get_json()  # WeChat Pay retries: applied once
    paid = client.get(f"/api/v1/presales/{campaign['id']}", headers=buyer.headers).get_json()
    assert paid["paid_quantity"] == 1
    assert client.get("/api/v1/me/points", headers=buyer.headers).get_json()["balance"] == 0  # money never buys points
    assert client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers).status_code == 409


def test_a_notification_with_another_amount_is_held_for_staff(app, client, members, wechatpay):
    product, buyer = members.create(role="product"), members.create("wxshort")
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1))
    order = _order(client, buyer, campaign, key="wx-order-0002").get_json()
    link_wechat(app, buyer.id, "o-wx-short")
    trade_no = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers).get_json()["out_trade_no"]
    wechatpay.pay(trade_no)
    resource = wechatpay.transaction(trade_no)
    resource["amount"]["total"] = 1
    assert (
        wechatpay_notify(client, *wechatpay.notification("TRANSACTION.SUCCESS", resource)).get_json()["outcome"]
        == "amount_mismatch"
    )
    with app.app_context():
        from c2b.presale import Order

        assert db.session.scalar(select(Order.status).where(Order.id == order["id"])) == "pending_payment"


def test_without_wechat_pay_configured_paying_says_so(app, client, members, settings):
    settings(WECHATPAY_MCHID="")
    app.extensions.pop("wechatpay", None)
    product, buyer = members.create(role="product"), members.create()
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1))
    order = _order(client, buyer, campaign, key="wx-order-0003").get_json()
    link_wechat(app, buyer.id, "o-wx-none")
    answer = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers)
    app.extensions.pop("wechatpay", None)
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "payments_not_configured"


def _paid_through_wechat(app, client, members, wechatpay, name: str, **campaign_fields):
    product, buyer = members.create(role="product"), members.create(name)
    campaign = _campaign(client, product, datetime.now(UTC) - timedelta(minutes=1), **campaign_fields)
    order = _order(client, buyer, campaign, key=f"wx-{name}-0001").get_json()
    link_wechat(app, buyer.id, f"o-{name}")
    trade_no = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers).get_json()["out_trade_no"]
    wechatpay.pay(trade_no)
    return product, buyer, campaign, order, trade_no


def test_a_lost_notification_never_loses_the_payment(app, client, members, wechatpay):
    _, buyer, campaign, order, _ = _paid_through_wechat(app, client, members, wechatpay, "lostnote")
    runner = app.test_cli_runner()
    assert "settled 0 payment(s)" in runner.invoke(args=["presale", "reconcile"]).output  # too recent to ask about
    clock.set_now(datetime.now(UTC) + timedelta(minutes=10))
    assert "settled 1 payment(s)" in runner.invoke(args=["presale", "reconcile"]).output
    assert "settled 0 payment(s)" in runner.invoke(args=["presale", "reconcile"]).output
    shown = client.get(f"/api/v1/presales/{campaign['id']}", headers=buyer.headers).get_json()
    assert shown["paid_quantity"] == 1


def test_a_failed_campaign_refunds_wechat_payments_through_wechat_pay_exactly_once(app, client, members, wechatpay):
    product, buyer, campaign, order, trade_no = _paid_through_wechat(app, client, members, wechatpay, "refundme")
    headers, body = wechatpay.notification("TRANSACTION.SUCCESS", wechatpay.transaction(trade_no))
    assert wechatpay_notify(client, headers, body).get_json()["outcome"] == "paid"
    clock.set_now(datetime.now(UTC) + timedelta(days=8))  # closed, 1 paid of MOQ 3
    runner = app.test_cli_runner()
    assert "settled 1" in runner.invoke(args=["presale", "settle"]).output
    assert runner.invoke(args=["presale", "send-refunds"]).output.startswith("sent 1 refund(s), 0 failed")
    assert runner.invoke(args=["presale", "send-refunds"]).output.startswith("sent 0 refund(s)")
    assert len(wechatpay.refunds) == 1
    sent = wechatpay.refunds[0]
    assert (
        sent["out_trade_no"] == trade_no
        and sent["amount"]["refund"] == sent["amount"]["total"] == order["amount_cents"]
    )
    clock.set_now(None)
    refund = {
        "out_trade_no": trade_no,
        "out_refund_no": sent["out_refund_no"],
        "refund_status": "SUCCESS",
        "amount": {"total": order["amount_cents"], "refund": order["amount_cents"], "currency": "CNY"},
    }
    assert (
        wechatpay_notify(client, *wechatpay.notification("REFUND.SUCCESS", refund)).get_json()["outcome"] == "refunded"
    )
    mine = client.get("/api/v1/me/orders", headers=buyer.headers).get_json()["items"]
    assert [o["status"] for o in mine] == ["refunded"]
