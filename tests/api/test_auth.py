from datetime import timedelta

import jwt as pyjwt
from flask import Flask
from flask_jwt_extended import create_access_token, decode_token

from api.extensions import OneKeyJWTManager
from tests.support import PASSWORD, bearer


def test_register_returns_tokens_and_private_profile(client):
    response = client.post(
        "/api/v1/auth/register", json={"username": "花粉_小李", "password": PASSWORD, "display_name": "小李 Lee"}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["username"] == "花粉_小李"
    assert body["user"]["display_name"] == "小李 Lee"
    assert body["user"]["has_password"] is True
    assert body["created"] is True
    assert body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert PASSWORD not in response.get_data(as_text=True) and "password_hash" not in body["user"]
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.get_json()["username"] == "花粉_小李"


def test_usernames_and_display_names_are_unique_case_and_width_insensitively(client, members):
    members.create("Alice")
    for taken in ("alice", "ALICE", "Ａｌｉｃｅ"):
        response = client.post("/api/v1/auth/register", json={"username": taken, "password": PASSWORD})
        assert response.status_code == 409, taken
        assert response.get_json()["error"]["code"] == "username_taken"
    response = client.post(
        "/api/v1/auth/register", json={"username": "bob", "password": PASSWORD, "display_name": "alice"}
    )
    assert response.get_json()["error"]["code"] == "display_name_taken"


def test_invalid_names_and_passwords_are_422_with_field_details(client):
    cases = [
        ({"username": "ab", "password": PASSWORD}, "username"),
        ({"username": "1abc", "password": PASSWORD}, "username"),
        ({"username": "bad name", "password": PASSWORD}, "username"),
        ({"username": "zero\u200bwidth", "password": PASSWORD}, "username"),
        ({"username": "goodname", "password": "short"}, "password"),
        ({"username": "goodname", "password": PASSWORD, "display_name": "<script>"}, "display_name"),
        ({"username": "goodname"}, "password"),
        ({"username": "goodname", "password": PASSWORD, "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/auth/register", json=body)
        assert response.status_code == 422, body
        error = response.get_json()["error"]
        assert field in error["details"], (body, error)
    assert client.post("/api/v1/auth/login", json={"username": "goodname", "password": PASSWORD}).status_code == 401


def test_login_wrong_password_and_unknown_user_look_the_same(client, members):
    members.create("carol")
    wrong = client.post("/api/v1/auth/login", json={"username": "carol", "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["error"] == unknown.get_json()["error"]
    assert client.post("/api/v1/auth/login", json={"username": "CAROL", "password": PASSWORD}).status_code == 200


def test_missing_invalid_and_expired_tokens_are_401(app, client, members):
    assert client.get("/api/v1/me").get_json()["error"]["code"] == "unauthenticated"
    assert client.get("/api/v1/me", headers=bearer("garbage")).get_json()["error"]["code"] == "invalid_token"
    member = members.create()
    with app.app_context():
        from flask_jwt_extended import decode_token

        fam = decode_token(member.access)["fam"]
        expired = create_access_token(
            identity=str(member.id), additional_claims={"fam": fam}, expires_delta=timedelta(seconds=-5)
        )
    response = client.get("/api/v1/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_expired"


def test_a_signed_in_request_parses_its_token_twice_not_four_times(client, members, monkeypatch):
    member = members.create()
    parses = []
    parse = pyjwt.api_jws.PyJWS._load
    monkeypatch.setattr(pyjwt.api_jws.PyJWS, "_load", lambda self, token: parses.append(1) or parse(self, token))
    assert client.get("/api/v1/me", headers=bearer(member.access)).status_code == 200
    # The verifying parse, and the header read that Flask-JWT-Extended's request path makes on its own.
    assert len(parses) == 2


def test_a_key_choosing_callback_still_gets_the_libraries_own_path():
    app = Flask(__name__)
    app.config["JWT_SECRET_KEY"] = "the-default-key-that-signs-nothing-here"
    manager = OneKeyJWTManager(app)
    seen = []

    @manager.decode_key_loader
    def key_for(header, claims):
        seen.append(claims["sub"])
        return "a-key-chosen-per-token-by-the-callback!"

    token = pyjwt.encode({"sub": "7", "type": "access"}, "a-key-chosen-per-token-by-the-callback!", algorithm="HS256")
    with app.app_context():
        assert decode_token(token)["sub"] == "7"
    assert seen == ["7"]


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(client, members):
    member = members.create()
    first = client.post("/api/v1/auth/refresh", headers=bearer(member.refresh))
    assert first.status_code == 200
    pair = first.get_json()
    assert pair["refresh_token"] != member.refresh
    # An access token cannot be used to refresh.
    assert client.post("/api/v1/auth/refresh", headers=bearer(pair["access_token"])).status_code == 401
    # Replaying the old refresh token is theft: the whole family dies, including the fresh pair.
    replay = client.post("/api/v1/auth/refresh", headers=bearer(member.refresh))
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "refresh_token_reused"
    assert client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(pair["access_token"])).status_code == 401
    # Other sessions of the same member are untouched.
    other = members.login(member.username)
    assert client.get("/api/v1/me", headers=other.headers).status_code == 200


def test_logout_revokes_access_and_refresh(client, members):
    member = members.create()
    assert client.post("/api/v1/auth/logout", headers=member.headers).status_code == 204
    assert client.get("/api/v1/me", headers=member.headers).get_json()["error"]["code"] == "token_revoked"
    assert client.post("/api/v1/auth/refresh", headers=bearer(member.refresh)).status_code == 401


def test_revocation_holds_when_the_store_forgets(app, client, members):
    member = members.create()
    client.post("/api/v1/auth/logout", headers=member.headers)
    with app.app_context():
        from kernel.store import current_store

        current_store().flush()  # e.g. Redis restarted without persistence
    assert client.post("/api/v1/auth/refresh", headers=bearer(member.refresh)).status_code == 401


def test_banned_member_cannot_sign_in_or_use_tokens(app, client, members):
    member = members.create()
    with app.app_context():
        from forum.members import User
        from kernel import clock
        from kernel.db import db

        db.session.get(User, member.id).banned_at = clock.now()
        db.session.commit()
    assert client.get("/api/v1/me", headers=member.headers).get_json()["error"]["code"] == "account_banned"
    login = client.post("/api/v1/auth/login", json={"username": member.username, "password": PASSWORD})
    assert login.status_code == 403


def test_staff_routes_check_the_role_in_the_database_not_the_token(app, client, members):
    admin = members.create("boss", role="admin")
    target = members.create()
    ok = client.put(f"/api/v1/users/{target.id}/role", json={"role": "moderator"}, headers=admin.headers)
    assert ok.status_code == 200 and ok.get_json()["role"] == "moderator"
    # Demote the admin in the database; the token still says admin but the route refuses.
    members.set_role(admin.id, "member")
    refused = client.put(f"/api/v1/users/{target.id}/role", json={"role": "admin"}, headers=admin.headers)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "role_required"
    # A forged claim is worthless too: a member's token with role=admin.
    with app.app_context():
        from flask_jwt_extended import decode_token

        fam = decode_token(target.access)["fam"]
        forged = create_access_token(identity=str(target.id), additional_claims={"fam": fam, "role": "admin"})
    assert (
        client.put(f"/api/v1/users/{admin.id}/role", json={"role": "member"}, headers=bearer(forged)).status_code == 403
    )


def test_admin_cannot_change_own_role_or_set_unknown_roles(client, members):
    admin = members.create("chief", role="admin")
    other = members.create()
    assert (
        client.put(f"/api/v1/users/{admin.id}/role", json={"role": "member"}, headers=admin.headers).status_code == 409
    )
    assert client.put(f"/api/v1/users/{other.id}/role", json={"role": "god"}, headers=admin.headers).status_code == 422
    assert client.put("/api/v1/users/999999/role", json={"role": "member"}, headers=admin.headers).status_code == 404


def test_login_is_rate_limited_with_retry_after(client, members):
    members.create("dave")
    statuses = [
        client.post("/api/v1/auth/login", json={"username": "dave", "password": "wrong-password"}).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    limited = client.post("/api/v1/auth/login", json={"username": "dave", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"]["code"] == "rate_limited"


def test_profile_update_and_public_view(client, members):
    member = members.create("erin")
    members.create("frank", display_name="Frank")
    patch = client.patch("/api/v1/me", json={"display_name": "艾琳", "bio": "乐高爱好者"}, headers=member.headers)
    assert patch.status_code == 200 and patch.get_json()["display_name"] == "艾琳"
    clash = client.patch("/api/v1/me", json={"display_name": "FRANK"}, headers=member.headers)
    assert clash.status_code == 409
    public = client.get(f"/api/v1/users/{member.id}").get_json()
    assert public["bio"] == "乐高爱好者"
    for private in ("last_login_at", "muted_until", "has_password", "wechat_linked"):
        assert private not in public
    assert client.get("/api/v1/users/424242").status_code == 404


def test_password_change_requires_the_current_password(client, members):
    member = members.create("gina")
    wrong = client.post(
        "/api/v1/me/password",
        json={"current_password": "nope", "new_password": "brand new pass"},
        headers=member.headers,
    )
    assert wrong.status_code == 403
    ok = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "brand new pass"},
        headers=member.headers,
    )
    assert ok.status_code == 200 and ok.get_json() == {"other_sessions_ended": 0}
    assert client.post("/api/v1/auth/login", json={"username": "gina", "password": "brand new pass"}).status_code == 200
