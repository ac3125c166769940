import pytest

from tests.fakes import FakeWeChat
from tests.support import bearer


@pytest.fixture()
def wechat(app):
    fake = FakeWeChat().start()
    previous = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = fake.base_url
    yield fake
    app.config["WECHAT_API_BASE"] = previous
    fake.stop()


def test_first_wechat_login_creates_a_member_and_the_next_finds_it(client, wechat):
    wechat.answers["code-1"] = (200, {"openid": "o-abc", "session_key": "SK-SECRET-1", "unionid": "u-xyz"})
    wechat.answers["code-2"] = (200, {"openid": "o-abc", "session_key": "SK-SECRET-2"})
    first = client.post("/api/v1/auth/wechat", json={"code": "code-1"})
    assert first.status_code == 200
    body = first.get_json()
    assert body["created"] is True
    assert body["user"]["wechat_linked"] is True and body["user"]["has_password"] is False
    assert "SK-SECRET" not in first.get_data(as_text=True)
    second = client.post("/api/v1/auth/wechat", json={"code": "code-2"})
    assert second.get_json()["created"] is False
    assert second.get_json()["user"]["id"] == body["user"]["id"]
    assert "SK-SECRET" not in second.get_data(as_text=True)
    me = client.get("/api/v1/me", headers=bearer(second.get_json()["access_token"]))
    assert "SK-SECRET" not in me.get_data(as_text=True)
    sent = wechat.requests[0]
    assert sent["appid"] == "wx-test-app" and sent["js_code"] == "code-1"
    assert sent["grant_type"] == "authorization_code"


def test_unionid_links_a_new_openid_to_the_same_member(client, wechat):
    wechat.answers["a"] = (200, {"openid": "o-app-1", "session_key": "k1", "unionid": "u-same"})
    wechat.answers["b"] = (200, {"openid": "o-app-2", "session_key": "k2", "unionid": "u-same"})
    one = client.post("/api/v1/auth/wechat", json={"code": "a"}).get_json()
    two = client.post("/api/v1/auth/wechat", json={"code": "b"}).get_json()
    assert one["user"]["id"] == two["user"]["id"]


def test_session_key_is_kept_server_side(app, client, wechat):
    wechat.answers["c"] = (200, {"openid": "o-keep", "session_key": "SK-KEEP"})
    user_id = client.post("/api/v1/auth/wechat", json={"code": "c"}).get_json()["user"]["id"]
    with app.app_context():
        from forum.members import User
        from kernel.db import db

        assert db.session.get(User, user_id).wechat.session_key == "SK-KEEP"


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        ((200, {"errcode": 40029, "errmsg": "invalid code"}), 401, "wechat_code_invalid"),
        ((200, {"errcode": 40163, "errmsg": "code been used"}), 401, "wechat_code_used"),
        ((200, {"errcode": 40226, "errmsg": "high risk"}), 403, "wechat_user_blocked"),
        ((200, {"errcode": 45011, "errmsg": "minute-limit"}), 429, "wechat_rate_limited"),
        ((200, {"errcode": -1, "errmsg": "system busy"}), 503, "wechat_busy"),
        ((200, {"errcode": 99999}), 503, "wechat_error"),
        ((502, {"oops": True}), 503, "wechat_unreachable"),
        ((200, b"<html>not json</html>"), 503, "wechat_unreachable"),
        ((200, {"session_key": "no-openid"}), 503, "wechat_bad_response"),
    ],
)
def test_wechat_errors_map_to_clear_statuses(client, wechat, answer, status, code):
    wechat.answers["bad"] = answer
    response = client.post("/api/v1/auth/wechat", json={"code": "bad"})
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    if status == 429:
        assert int(response.headers["Retry-After"]) > 0


def test_misconfigured_app_credentials_are_a_503(app, client, wechat):
    app.config["WECHAT_SECRET"] = "wrong"
    try:
        response = client.post("/api/v1/auth/wechat", json={"code": "anything"})
    finally:
        app.config["WECHAT_SECRET"] = "wx-test-secret"
    assert response.status_code == 503
    assert response.get_json()["error"]["details"] == {"errcode": 40013}


def test_wechat_unreachable_is_503(app, client):
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:1"
    try:
        response = client.post("/api/v1/auth/wechat", json={"code": "x"})
    finally:
        app.config["WECHAT_API_BASE"] = "https://api.weixin.qq.com"
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "wechat_unreachable"


def test_missing_code_is_422(client):
    assert client.post("/api/v1/auth/wechat", json={}).status_code == 422
