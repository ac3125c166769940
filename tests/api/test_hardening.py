"""Sessions that stay ended, input refused at the edge, and answers that say what happened."""

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.proxies import TrustedProxies, parse_networks
from kernel import clock
from kernel.db import db
from kernel.store import current_store
from tests.api.test_presale import _campaign, _order
from tests.support import PASSWORD, bearer


def _code(response) -> str:
    return response.get_json()["error"]["code"]


# Sessions and sign-in


def test_a_flushed_store_never_revives_an_ended_session(app, client, members):
    member = members.create()
    assert client.post("/api/v1/auth/logout", headers=member.headers).status_code == 204
    with app.app_context():
        current_store().flush()  # Redis restarted, FLUSHDB, or a new SQLite store file
    assert _code(client.get("/api/v1/me", headers=member.headers)) == "token_revoked"
    assert client.post("/api/v1/auth/refresh", headers=bearer(member.refresh)).status_code == 401


def test_changing_the_password_ends_every_other_session(client, members):
    here = members.create("pwchanger")
    elsewhere = members.login("pwchanger")
    third = members.login("pwchanger")
    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password"},
        headers=here.headers,
    )
    assert changed.status_code == 200 and changed.get_json() == {"other_sessions_ended": 2}
    for other in (elsewhere, third):
        assert _code(client.get("/api/v1/me", headers=other.headers)) == "token_revoked"
        assert client.post("/api/v1/auth/refresh", headers=bearer(other.refresh)).status_code == 401
    assert client.get("/api/v1/me", headers=here.headers).status_code == 200
    assert client.post("/api/v1/auth/refresh", headers=bearer(here.refresh)).status_code == 200


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(client, settings):
    settings(LOGIN_RATE_LIMIT="3 per minute")
    answers = [
        client.post(
            "/api/v1/auth/login",
            json={"username": f"nobody{i}", "password": "wrong password"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
        for i in range(5)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]


def test_trusted_proxies_name_the_client_from_the_right():
    seen = {}

    def app(environ, start_response):
        seen.update(addr=environ["REMOTE_ADDR"], scheme=environ["wsgi.url_scheme"])
        return []

    proxied = TrustedProxies(app, parse_networks("10.0.0.0/8, 127.0.0.1"))
    base = {"wsgi.url_scheme": "http"}
    proxied(
        {
            **base,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.2.3.4, 10.1.1.1",
            "HTTP_X_FORWARDED_PROTO": "https",
        },
        None,
    )
    assert seen == {"addr": "1.2.3.4", "scheme": "https"}  # the spoofed left-most entry is not believed
    proxied({**base, "REMOTE_ADDR": "8.8.8.8", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, None)
    assert seen["addr"] == "8.8.8.8"  # an untrusted peer cannot choose its address
    proxied({**base, "REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "not-an-ip, 10.2.2.2"}, None)
    assert seen["addr"] == "10.2.2.2"
    TrustedProxies(app, [])({**base, "REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, None)
    assert seen["addr"] == "127.0.0.1"


def test_failed_sign_ins_lock_the_account_whatever_the_address(client, members, settings):
    settings(LOGIN_RATE_LIMIT="1000 per minute", SIGN_IN_FAILURE_LIMIT="10 per 15 minutes", TRUSTED_PROXIES="")
    members.create("lockme")
    for i in range(10):
        wrong = client.post(
            "/api/v1/auth/login",
            json={"username": "LockMe", "password": f"guess number {i}"},
            environ_overrides={"REMOTE_ADDR": f"192.0.2.{i}"},
        )
        assert wrong.status_code == 401
    locked = client.post("/api/v1/auth/login", json={"username": "lockme", "password": PASSWORD})
    assert locked.status_code == 429 and _code(locked) == "sign_in_locked"
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    other = members.create("notlocked")
    assert client.post("/api/v1/auth/login", json={"username": other.username, "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("lookalike", ["аdmin", "Аdmin", "admin\u0301", "ａｄｍｉｎ"])
def test_usernames_that_look_like_existing_ones_are_refused(client, members, lookalike):
    members.create("admin")
    response = client.post("/api/v1/auth/register", json={"username": lookalike, "password": PASSWORD})
    assert response.status_code == 409
    assert _code(response) in ("username_confusable", "username_taken")


def test_confusable_check_refuses_cyrillic_and_combining_marks_specifically(client, members):
    members.create("admin")
    for name in ("аdmin", "admin\u0301", "adrnin"):
        answer = client.post("/api/v1/auth/register", json={"username": name, "password": PASSWORD})
        assert (answer.status_code, _code(answer)) == (409, "username_confusable"), name
    assert (
        client.post("/api/v1/auth/register", json={"username": "administrator", "password": PASSWORD}).status_code
        == 201
    )


# Input that must be a clear 4xx, fast, and change nothing


def _post_count(app) -> int:
    from forum.posts import Post

    with app.app_context():
        return db.session.scalar(select(func.count(Post.id)))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"board_id": 1, "title": "nul \\u0000 here", "body": "text"}', "invalid_characters"),
        ('{"board_id": 1, "title": "lone \\ud800 surrogate", "body": "text"}', "invalid_characters"),
        ('{"board_id": 1, "title": "ok title", "body": "x", "tags": ["a\\u0000"]}', "invalid_characters"),
        ('{"board_id": 1, "title": "ok title", "\\u0000": 1}', "invalid_characters"),
        ('{"board_id": ' + "9" * 5000 + ', "title": "big", "body": "x"}', "number_too_large"),
        ('{"board_id": 1, "title": "ok", "body": "x", "n": NaN}', "malformed_json"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "too_deeply_nested"),
        ("[" * 100000 + "]" * 100000, "too_deeply_nested"),
    ],
)
def test_hostile_json_is_a_fast_400_that_changes_nothing(app, client, members, forum, raw, code):
    member = members.create()
    forum.board()
    before = _post_count(app)
    started = time.monotonic()
    response = client.post("/api/v1/posts", data=raw, content_type="application/json", headers=member.headers)
    assert time.monotonic() - started < 1
    assert response.status_code == 400 and _code(response) == code
    assert _post_count(app) == before


def test_nul_in_a_query_string_is_refused(client):
    response = client.get("/api/v1/posts?q=%00drop")
    assert response.status_code == 400 and _code(response) == "invalid_characters"


def test_huge_lists_are_refused_before_anyone_walks_them(client, members):
    member = members.create()
    started = time.monotonic()
    huge = client.post(
        "/api/v1/me/notifications/read",
        data=json.dumps({"ids": [1] * 2_000_000}),
        content_type="application/json",
        headers=member.headers,
    )
    assert huge.status_code == 413 and _code(huge) == "payload_too_large"
    long_list = client.post("/api/v1/me/notifications/read", json={"ids": [1] * 5000}, headers=member.headers)
    assert long_list.status_code == 422 and "ids" in long_list.get_json()["error"]["details"]
    assert time.monotonic() - started < 2


def test_payment_notifications_validate_ranges_and_types(client, members, frozen_clock):
    from c2b.payments import sign

    product, buyer = members.create(role="product"), members.create()
    order = _order(client, buyer, _campaign(client, product, frozen_clock)).get_json()
    now = int(clock.now().timestamp())
    base = {
        "event_id": "evt-1",
        "type": "payment.succeeded",
        "order_id": order["id"],
        "amount_cents": order["amount_cents"],
        "currency": "CNY",
    }
    for changes, field in (
        ({"amount_cents": 2**31}, "amount_cents"),
        ({"amount_cents": 10**18}, "amount_cents"),
        ({"order_id": True}, "order_id"),
        ({"amount_cents": False}, "amount_cents"),
        ({"order_id": 2**40}, "order_id"),
    ):
        body = json.dumps({**base, **changes}).encode()
        answer = client.post(
            "/api/v1/payments/notify",
            data=body,
            content_type="application/json",
            headers={"X-Payment-Signature": sign("test-webhook-secret", now, body)},
        )
        assert answer.status_code == 422 and field in answer.get_json()["error"]["details"], changes
    assert client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers).get_json()["status"] == "pending_payment"


def test_an_idempotency_key_reused_with_another_body_is_refused(client, members, frozen_clock):
    product, buyer = members.create(role="product"), members.create()
    campaign = _campaign(client, product, frozen_clock, stock_cap=10)
    first = _order(client, buyer, campaign, quantity=1, key="same-key-0001")
    assert first.status_code == 201
    again = _order(client, buyer, campaign, quantity=1, key="same-key-0001")
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
    different = _order(client, buyer, campaign, quantity=2, key="same-key-0001")
    assert different.status_code == 422 and _code(different) == "idempotency_key_reused"
    assert client.get(f"/api/v1/presales/{campaign['id']}").get_json()["reserved_quantity"] == 1
    clock.advance(timedelta(hours=25))
    expired = _order(client, buyer, campaign, quantity=1, key="same-key-0001")
    assert expired.status_code == 422 and _code(expired) == "idempotency_key_expired"


def test_a_database_outage_is_503_with_retry_after(make_app, members):
    member = members.create()
    down = make_app(
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none", SQLALCHEMY_ENGINE_OPTIONS={}
    ).test_client()
    for method, url in (("GET", "/api/v1/posts"), ("GET", "/api/v1/me"), ("POST", "/api/v1/auth/login")):
        answer = down.open(
            url,
            method=method,
            headers=member.headers,
            json={"username": "x", "password": "y"} if method == "POST" else None,
        )
        assert answer.status_code == 503 and _code(answer) == "service_unavailable", url
        assert int(answer.headers["Retry-After"]) >= 5  # at least ours (the limiter may name a later time)


def test_405_names_the_allowed_methods_and_full_width_ids_do_not_route(client):
    answer = client.delete("/api/v1/boards")
    assert answer.status_code == 405 and set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert client.get("/api/v1/posts/０１").status_code == 404
    assert client.get("/api/v1/posts/٣").status_code == 404


# Defects found by walking the product


def test_a_new_members_tier_and_the_tier_segment_agree(client, members):
    operator, fresh = members.create(role="operator"), members.create()
    tier = client.get(f"/api/v1/users/{fresh.id}/tier", headers=operator.headers).get_json()["tier"]
    assert tier == "inactive"
    segment = client.get("/api/v1/segments?tier=inactive&limit=100", headers=operator.headers).get_json()
    assert fresh.id in {m["id"] for m in segment["items"]}


def test_replying_to_a_post_awaiting_review_says_so(client, members, forum, settings):
    settings(NEW_MEMBER_REVIEW_POSTS=1)
    author = members.create()
    post = forum.post(author, forum.board()["id"], "awaiting review")
    assert post["status"] == "pending_review"
    reply = client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "first!"}, headers=author.headers)
    assert reply.status_code == 409 and _code(reply) == "post_pending_review"
    assert "review" in reply.get_json()["error"]["message"]


def test_json_bodies_take_only_real_integers_and_booleans(client, members):
    admin = members.create(role="admin")
    base = {"slug": "strict-types", "name": "严格", "description": "", "position": 1, "staff_only": False}
    for changes in ({"staff_only": 0}, {"staff_only": "yes"}, {"position": 1.5}, {"position": "2"}, {"position": True}):
        answer = client.post("/api/v1/boards", json={**base, **changes}, headers=admin.headers)
        assert answer.status_code == 422 and set(changes) <= set(answer.get_json()["error"]["details"]), changes
    assert client.post("/api/v1/boards", json=base, headers=admin.headers).status_code == 201
    assert client.get("/api/v1/boards?limit=5").status_code == 200  # query strings still carry numbers as text


def test_undeclared_query_parameters_and_upload_fields_are_refused(client, members, png_bytes):
    member = members.create("strictquery")
    assert client.get("/api/v1/posts?sort=latest").status_code == 200
    unknown = client.get("/api/v1/posts?sort=latest&colour=red")
    assert unknown.status_code == 422 and "colour" in unknown.get_json()["error"]["details"]
    extra = client.post(
        "/api/v1/media",
        data={"file": (png_bytes(), "a.png"), "caption": "hi"},
        headers=member.headers,
        content_type="multipart/form-data",
    )
    assert extra.status_code == 422 and extra.get_json()["error"]["details"] == {"caption": ["unknown field"]}
