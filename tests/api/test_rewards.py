import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from kernel import clock


def _grant(client, forum, member, points):
    response = client.post(
        f"/api/v1/users/{member.id}/points/grants",
        json={"points": points, "reason": "test"},
        headers=forum.admin.headers,
    )
    assert response.status_code == 201


def _balance(client, member) -> int:
    return client.get("/api/v1/me/points", headers=member.headers).get_json()["balance"]


def _reward(client, operator, **fields):
    response = client.post(
        "/api/v1/rewards", json={"name": "Mug", "price_points": 40, **fields}, headers=operator.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_redeem_is_idempotent_and_refuses_overspend_and_oversell(client, members, forum):
    operator, member = members.create(role="operator"), members.create()
    _grant(client, forum, member, 100)
    item = _reward(client, operator, stock=2, per_member_limit=5)
    url = f"/api/v1/rewards/{item['id']}/redeem"
    headers = {**member.headers, "Idempotency-Key": "redeem-0001"}
    first = client.post(url, json={}, headers=headers)
    repeat = client.post(url, json={}, headers=headers)
    assert first.status_code == repeat.status_code == 201
    assert first.get_json()["id"] == repeat.get_json()["id"]
    assert _balance(client, member) == 60
    assert client.post(url, json={"quantity": 2}, headers=member.headers).get_json()["error"]["code"] == "out_of_stock"
    second = client.post(url, json={}, headers=member.headers)
    assert second.status_code == 201 and _balance(client, member) == 20
    assert client.post(url, json={}, headers=member.headers).get_json()["error"]["code"] == "out_of_stock"
    pricey = _reward(client, operator, name="TV", price_points=10_000)
    broke = client.post(f"/api/v1/rewards/{pricey['id']}/redeem", json={}, headers=member.headers)
    assert broke.status_code == 409 and broke.get_json()["error"]["code"] == "insufficient_points"
    assert _balance(client, member) == 20
    assert [
        r["item_name"] for r in client.get("/api/v1/me/redemptions", headers=member.headers).get_json()["items"]
    ] == ["Mug", "Mug"]
    bad_key = client.post(url, json={}, headers={**member.headers, "Idempotency-Key": "bad key!"})
    assert bad_key.status_code == 422


def test_per_member_limit_window_and_level(client, members, forum, frozen_clock):
    operator, member = members.create(role="operator"), members.create()
    _grant(client, forum, member, 1000)
    limited = _reward(client, operator, per_member_limit=1, price_points=1)
    url = f"/api/v1/rewards/{limited['id']}/redeem"
    assert client.post(url, json={}, headers=member.headers).status_code == 201
    assert client.post(url, json={}, headers=member.headers).get_json()["error"]["code"] == "redemption_limit"
    later = _reward(client, operator, price_points=1, starts_at=(frozen_clock + timedelta(days=1)).isoformat())
    assert (
        client.post(f"/api/v1/rewards/{later['id']}/redeem", json={}, headers=member.headers).get_json()["error"][
            "code"
        ]
        == "reward_unavailable"
    )
    elite = _reward(client, operator, price_points=1, min_level=5)
    assert client.post(f"/api/v1/rewards/{elite['id']}/redeem", json={}, headers=member.headers).status_code == 403
    assert (
        client.post("/api/v1/rewards", json={"name": "x", "price_points": 1}, headers=member.headers).status_code == 403
    )


def test_cancelled_redemption_refunds_and_restocks_once(client, members, forum):
    operator, member = members.create(role="operator"), members.create()
    _grant(client, forum, member, 100)
    item = _reward(client, operator, stock=1)
    redemption = client.post(f"/api/v1/rewards/{item['id']}/redeem", json={}, headers=member.headers).get_json()
    url = f"/api/v1/redemptions/{redemption['id']}"
    assert client.patch(url, json={"status": "cancelled"}, headers=member.headers).status_code == 403
    for _ in range(2):
        assert (
            client.patch(url, json={"status": "cancelled"}, headers=operator.headers).get_json()["status"]
            == "cancelled"
        )
    assert _balance(client, member) == 100
    assert client.get("/api/v1/rewards").get_json()["items"][0]["stock"] == 1
    assert client.patch(url, json={"status": "fulfilled"}, headers=operator.headers).status_code == 409


def _lottery(client, operator, start: datetime, **fields) -> dict:
    body = {
        "name": "新年抽奖",
        "cost_points": 10,
        "miss_weight": 1,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=1)).isoformat(),
        "prizes": [{"name": "Minifig", "weight": 3, "stock": 1}, {"name": "Sticker", "weight": 1, "stock": 100}],
        **fields,
    }
    created = client.post("/api/v1/lotteries", headers=operator.headers, json=body)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_lottery_draws_are_paid_idempotent_and_verifiable(client, members, forum, frozen_clock):
    operator, member = members.create(role="operator"), members.create()
    _grant(client, forum, member, 100)
    lottery = _lottery(client, operator, frozen_clock)
    assert lottery["seed"] is None and len(lottery["seed_commitment"]) == 64
    url = f"/api/v1/lotteries/{lottery['id']}/draw"
    draws = []
    for i in range(6):
        headers = {**member.headers, "Idempotency-Key": f"draw-nonce-{i:04d}"}
        draws.append(client.post(url, headers=headers).get_json())
        assert client.post(url, headers=headers).get_json()["id"] == draws[-1]["id"]  # retry: same draw
    assert _balance(client, member) == 40
    won = [d["prize"]["name"] for d in draws if d["prize"]]
    assert won.count("Minifig") <= 1  # stock 1: never oversold
    clock.set_now(frozen_clock + timedelta(days=2))
    revealed = client.get(f"/api/v1/lotteries/{lottery['id']}").get_json()
    assert hashlib.sha256(revealed["seed"].encode()).hexdigest() == lottery["seed_commitment"]
    for draw in draws:
        message = f"{lottery['id']}:draw:{member.id}:{draw['nonce']}".encode()
        assert hmac.new(revealed["seed"].encode(), message, hashlib.sha256).hexdigest() == draw["random_hex"]
    closed = client.post(url, headers={**member.headers, "Idempotency-Key": "late-draw-0001"})
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "lottery_closed"


def test_lottery_validation(client, members):
    operator = members.create(role="operator")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    bad = client.post(
        "/api/v1/lotteries",
        headers=operator.headers,
        json={
            "name": "x",
            "cost_points": 1,
            "starts_at": now.isoformat(),
            "ends_at": now.isoformat(),
            "prizes": [{"name": "a", "weight": 1, "stock": 1}],
        },
    )
    assert bad.status_code == 422
    naive = client.post(
        "/api/v1/lotteries",
        headers=operator.headers,
        json={
            "name": "x",
            "cost_points": 1,
            "starts_at": "2026-01-01T00:00:00",
            "ends_at": "2026-01-02T00:00:00",
            "prizes": [{"name": "a", "weight": 1, "stock": 1}],
        },
    )
    assert naive.status_code == 422
    assert client.post("/api/v1/lotteries/999/draw", headers=operator.headers).status_code == 404
