"""One idea from submission to a shipped order, walked as the roles would, with WeChat Pay (a fake on 127.0.0.1
that really signs and encrypts) taking the deposit and the balance; and a failed campaign refunded exactly once."""

from datetime import timedelta

from kernel import clock
from tests.api.test_delivery import _address
from tests.api.test_ideas import _published
from tests.support import link_wechat, wechatpay_notify

SUPPORT = {"would_buy": 2, "price_cents": 29900}


def _messages(client, member) -> list[str]:
    return [n["message"] for n in client.get("/api/v1/me/notifications", headers=member.headers).get_json()["items"]]


def _pay_with_wechat(client, wechatpay, buyer, order) -> dict:
    started = client.post(f"/api/v1/orders/{order['id']}/wechatpay", headers=buyer.headers)
    assert started.status_code == 200, started.get_json()
    trade_no = started.get_json()["out_trade_no"]
    wechatpay.pay(trade_no)
    answer = wechatpay_notify(client, *wechatpay.notification("TRANSACTION.SUCCESS", wechatpay.transaction(trade_no)))
    assert answer.status_code == 200, answer.get_json()
    return {"trade_no": trade_no, "outcome": answer.get_json()["outcome"]}


def test_an_idea_walks_from_submission_to_a_shipped_order(app, client, members, png_bytes, settings, wechatpay):
    settings(IDEA_MILESTONES=[[2, None]], IDEA_VERIFIED_MIN_LEVEL=1, IDEA_VERIFIED_MIN_AGE_DAYS=0)
    start = clock.now()
    idea, creator = _published(client, members, png_bytes)
    buyer, fan = members.create("walkbuyer"), members.create("walkfan")
    product, fulfilment = members.create(role="product"), members.create(role="fulfilment")
    _address(client, creator, recipient="创作者")

    # Support → milestone: the creator and the supporters hear it.
    for supporter in (buyer, fan):
        assert (
            client.put(f"/api/v1/ideas/{idea['id']}/support", json=SUPPORT, headers=supporter.headers).status_code
            == 200
        )
    assert any("达成第 1 个里程碑" in m for m in _messages(client, creator))
    assert any("已获得 2 位支持者" in m for m in _messages(client, fan))
    demand = client.get(f"/api/v1/ideas/{idea['id']}/demand", headers=product.headers).get_json()
    assert demand["would_buy_units"] == 4

    # Review round → decision with feedback, in words.
    url = f"/api/v1/ideas/{idea['id']}/decision"
    client.post(url, json={"decision": "start_review"}, headers=product.headers)
    client.post(url, json={"decision": "approve", "feedback": "明年端午量产"}, headers=product.headers)
    assert any("通过评审" in m and "明年端午量产" in m for m in _messages(client, fan))

    # Sample poll: supporters are invited, vote, the team closes it early and seeds the campaign with the winner.
    poll = client.post(
        "/api/v1/polls",
        json={
            "title": "选出量产配色",
            "idea_id": idea["id"],
            "closes_at": (start + timedelta(days=7)).isoformat(),
            "options": [{"name": "朱红金边"}, {"name": "青绿山水"}],
        },
        headers=product.headers,
    ).get_json()
    assert any("开始样品投票" in m for m in _messages(client, buyer))
    winner = poll["options"][1]["id"]
    for voter in (buyer, fan):
        client.post(f"/api/v1/polls/{poll['id']}/vote", json={"option_id": winner}, headers=voter.headers)
    client.post(f"/api/v1/polls/{poll['id']}/close", headers=product.headers)

    # Deposit pre-sale: 定金 50, balance due three days after closing; the creator gets one unit free.
    campaign = client.post(
        "/api/v1/presales",
        json={
            "title": "端午龙舟",
            "idea_id": idea["id"],
            "poll_id": poll["id"],
            "unit_price_cents": 29900,
            "deposit_cents": 5000,
            "balance_due_at": (start + timedelta(days=10)).isoformat(),
            "moq": 2,
            "creator_free_units": 1,
            "opens_at": start.isoformat(),
            "closes_at": (start + timedelta(days=7)).isoformat(),
            "options": [{"sku": "DRAGON-GREEN", "poll_option_id": winner}],
        },
        headers=product.headers,
    ).get_json()
    client.post(f"/api/v1/presales/{campaign['id']}/state", json={"state": "published"}, headers=product.headers)
    assert any("开启预售" in m for m in _messages(client, fan))
    assert [c["id"] for c in client.get(f"/api/v1/presales?idea_id={idea['id']}").get_json()["items"]] == [
        campaign["id"]
    ]
    page = client.get(f"/api/v1/ideas/{idea['id']}").get_json()
    assert [p["id"] for p in page["polls"]] == [poll["id"]] and [c["id"] for c in page["presales"]] == [campaign["id"]]
    shown = client.get(f"/api/v1/presales/{campaign['id']}").get_json()
    assert shown["creator"]["user_id"] == creator.id and shown["options"][0]["name"] == "青绿山水"

    # The buyer orders to an address and pays the deposit in the mini-program.
    address = _address(client, buyer, recipient="李买家")
    link_wechat(app, buyer.id, "o-walk-buyer")
    order = client.post(
        f"/api/v1/presales/{campaign['id']}/orders",
        json={"option_id": shown["options"][0]["id"], "quantity": 2, "address_id": address["id"]},
        headers={**buyer.headers, "Idempotency-Key": "walk-order-1"},
    ).get_json()
    assert (order["amount_cents"], order["balance_cents"]) == (10000, 49800)
    deposit = _pay_with_wechat(client, wechatpay, buyer, order)
    assert deposit["outcome"] == "paid" and deposit["trade_no"].startswith("PS")
    assert wechatpay.transactions[deposit["trade_no"]]["amount"]["total"] == 10000

    # Close: MOQ met on deposits → the balance window; the buyer is told, then pays the balance (its own trade).
    clock.advance(timedelta(days=7, minutes=1))
    runner = app.test_cli_runner()
    assert "settled 1 pre-sale(s)" in runner.invoke(args=["presale", "settle"]).output
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["status"] == "balance_due"
    assert any("请在" in m and "支付尾款" in m for m in _messages(client, buyer))
    balance = _pay_with_wechat(client, wechatpay, buyer, order)
    assert balance["outcome"] == "balance_paid" and balance["trade_no"].startswith("PB")
    assert wechatpay.transactions[balance["trade_no"]]["amount"]["total"] == 49800
    assert client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "paid"

    # The deadline passes: settlement confirms the fully paid order and recognises the creator.
    clock.advance(timedelta(days=3))
    assert "settled 1 pre-sale(s)" in runner.invoke(args=["presale", "settle"]).output
    assert client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "confirmed"
    assert any("成团成功" in m for m in _messages(client, buyer))
    assert client.get("/api/v1/me/points", headers=buyer.headers).get_json()["balance"] == 0  # money ≠ points
    assert client.get("/api/v1/me/points", headers=creator.headers).get_json()["balance"] >= 2000
    manifest = client.get(f"/api/v1/presales/{campaign['id']}/manifest", headers=product.headers).get_json()
    assert manifest["total_units"] == 3  # two paid in full and the creator's free unit
    shipping = client.get(f"/api/v1/presales/{campaign['id']}/shipping", headers=fulfilment.headers)
    lines = shipping.get_data().decode("utf-8-sig").splitlines()
    assert len(lines) == 3 and any("李买家,13812345678" in line for line in lines)
    assert any("创作者" in line for line in lines)

    # Production, shipping, and the buyer sees the tracking number.
    client.post(f"/api/v1/presales/{campaign['id']}/state", json={"state": "in_production"}, headers=product.headers)
    shipped = client.post(
        f"/api/v1/presales/{campaign['id']}/shipments",
        json={"items": [{"order_id": order["id"], "carrier": "顺丰速运", "tracking_no": "SF5566778899"}]},
        headers=fulfilment.headers,
    ).get_json()
    assert shipped == {"updated": 1, "errors": []}
    mine = client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()
    assert (mine["shipment_status"], mine["tracking_no"]) == ("shipped", "SF5566778899")
    assert _messages(client, buyer)[0] == "你的订单已发货：顺丰速运 SF5566778899"
    with app.app_context():
        from economy.ledger import verify

        assert verify() == []


def test_a_failed_deposit_campaign_refunds_every_charge_through_wechat_pay_once(app, client, members, wechatpay):
    product = members.create(role="product")
    start = clock.now()
    campaign = client.post(
        "/api/v1/presales",
        json={
            "title": "小众款",
            "unit_price_cents": 19900,
            "deposit_cents": 2000,
            "balance_due_at": (start + timedelta(days=10)).isoformat(),
            "deposit_policy": "refund",
            "moq": 10,
            "opens_at": start.isoformat(),
            "closes_at": (start + timedelta(days=7)).isoformat(),
            "options": [{"sku": "NICHE", "name": "小众款"}],
        },
        headers=product.headers,
    ).get_json()
    client.post(f"/api/v1/presales/{campaign['id']}/state", json={"state": "published"}, headers=product.headers)
    buyers = [members.create(f"niche{n}") for n in range(3)]
    orders = []
    for number, buyer in enumerate(buyers):
        link_wechat(app, buyer.id, f"o-niche-{number}")
        order = client.post(
            f"/api/v1/presales/{campaign['id']}/orders",
            json={"option_id": campaign["options"][0]["id"]},
            headers={**buyer.headers, "Idempotency-Key": f"niche-order-{number}"},
        ).get_json()
        _pay_with_wechat(client, wechatpay, buyer, order)
        orders.append(order)
    clock.advance(timedelta(days=7, minutes=1))
    runner = app.test_cli_runner()
    runner.invoke(args=["presale", "settle"])
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["status"] == "failed"
    assert runner.invoke(args=["presale", "send-refunds"]).output.startswith("sent 3 refund(s), 0 failed")
    assert runner.invoke(args=["presale", "send-refunds"]).output.startswith("sent 0 refund(s)")
    assert sorted(r["out_trade_no"] for r in wechatpay.refunds) == sorted(f"PS{o['id']:010d}" for o in orders)
    assert all(r["amount"]["refund"] == 2000 for r in wechatpay.refunds)
    for refund in wechatpay.refunds:
        resource = {
            "out_trade_no": refund["out_trade_no"],
            "out_refund_no": refund["out_refund_no"],
            "refund_status": "SUCCESS",
            "amount": {"total": 2000, "refund": 2000, "currency": "CNY"},
        }
        notification = wechatpay.notification("REFUND.SUCCESS", resource)
        assert wechatpay_notify(client, *notification).get_json()["outcome"] == "refunded"
        assert wechatpay_notify(client, *notification).get_json()["outcome"] == "refunded"  # a retry is applied once
    for buyer in buyers:
        assert [o["status"] for o in client.get("/api/v1/me/orders", headers=buyer.headers).get_json()["items"]] == [
            "refunded"
        ]
        assert sum("退款已完成：20.00 CNY" in m for m in _messages(client, buyer)) == 1
