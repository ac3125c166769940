"""Phone binding, policy versions, account deletion (注销) and personal-data export."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import JSON, String, Text, cast, or_, select

from kernel import clock
from kernel.audit import AuditEntry
from kernel.db import db
from tests.api.test_delivery import HOME, _address
from tests.fakes import FakeWeChat
from tests.support import PASSWORD, bearer


@pytest.fixture()
def wechat(app, settings):
    fake = FakeWeChat().start()
    settings(WECHAT_API_BASE=fake.base_url)
    yield fake
    fake.stop()


def _wechat_member(client, wechat, openid: str) -> tuple[dict, dict]:
    wechat.answers[f"code-{openid}"] = (200, {"openid": openid, "session_key": "sk", "unionid": f"u-{openid}"})
    signed_in = client.post("/api/v1/auth/wechat", json={"code": f"code-{openid}"}).get_json()
    return bearer(signed_in["access_token"]), signed_in


def test_a_phone_is_bound_through_wechat_stored_encrypted_and_required_where_configured(
    app, client, members, wechat, settings, forum
):
    headers, _ = _wechat_member(client, wechat, "o-phone")
    other_headers, _ = _wechat_member(client, wechat, "o-other")
    operator, member = members.create(role="operator"), members.create()
    assert client.get("/api/v1/me/phone", headers=headers).get_json() == {"phone": None, "required_for": []}
    wechat.phone_codes.update({"c1": "13912345678", "c2": "13912345678", "c3": "+14155550100"})
    bound = client.put("/api/v1/me/phone", json={"code": "c1"}, headers=headers)
    assert bound.status_code == 200 and bound.get_json()["phone"] == "139****5678"
    assert client.put("/api/v1/me/phone", json={"code": "c1"}, headers=headers).status_code == 401  # used code
    taken = client.put("/api/v1/me/phone", json={"code": "c2"}, headers=other_headers)
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "phone_in_use"
    abroad = client.put("/api/v1/me/phone", json={"code": "c3"}, headers=other_headers)
    assert abroad.status_code == 422 and abroad.get_json()["error"]["code"] == "phone_not_mainland"
    with app.app_context():
        stored = [
            str(value) for row in db.session.execute(select(db.metadata.tables["member_phones"])) for value in row
        ]
        assert stored and not any("13912345678" in value for value in stored)  # encrypted, and looked up by HMAC

    # Where the community requires a bound phone, members without one are told so (403 phone_required).
    settings(REQUIRE_PHONE_FOR=("post", "order"))
    board = forum.board()
    post = {"board_id": board["id"], "title": "绑定手机后发帖", "body": "正文内容足够长了吧"}
    refused = client.post("/api/v1/posts", json=post, headers=member.headers)
    assert refused.status_code == 403 and refused.get_json()["error"] == {
        "code": "phone_required",
        "message": "bind your phone number first",
        "details": {"action": "post"},
    }
    assert client.post("/api/v1/posts", json=post, headers=headers).status_code == 201

    # Staff find a member by phone only with a reason, and the lookup is audited (the number masked).
    url = "/api/v1/members/by-phone?phone=13912345678&reason=用户来电核实"
    assert client.get(url, headers=member.headers).status_code == 403
    found = client.get(url, headers=operator.headers)
    assert found.status_code == 200 and "13912345678" not in found.get_data(as_text=True)
    assert (
        client.get("/api/v1/members/by-phone?phone=13800000000&reason=查无此人", headers=operator.headers).status_code
        == 404
    )
    with app.app_context():
        lookups = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "member.phone_lookup")).all()
        assert [(e.reason, e.details["phone"]) for e in lookups] == [
            ("用户来电核实", "139****5678"),
            ("查无此人", "138****0000"),
        ]
    assert client.delete("/api/v1/me/phone", headers=headers).get_json()["phone"] is None


def test_new_policy_versions_must_be_accepted_before_writing(client, members, settings):
    member = members.create()
    settings(PRIVACY_POLICY_VERSION="2026-11", TERMS_VERSION="v3")
    state = client.get("/api/v1/me/policies", headers=member.headers).get_json()
    assert state["pending"] == {"privacy": "2026-11", "terms": "v3"}
    refused = client.patch("/api/v1/me", json={"bio": "hi"}, headers=member.headers)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "policy_acceptance_required"
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200  # reading never waits
    stale = client.post("/api/v1/me/policies", json={"privacy": "2026-10"}, headers=member.headers)
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "policy_version_outdated"
    client.post("/api/v1/me/policies", json={"privacy": "2026-11"}, headers=member.headers)
    assert client.patch("/api/v1/me", json={"bio": "hi"}, headers=member.headers).status_code == 403  # terms left
    done = client.post("/api/v1/me/policies", json={"terms": "v3"}, headers=member.headers).get_json()
    assert done["pending"] == {} and done["accepted"] == {"privacy": "2026-11", "terms": "v3"}
    assert client.patch("/api/v1/me", json={"bio": "hi"}, headers=member.headers).status_code == 200
    settings(TERMS_VERSION="v4")
    assert client.patch("/api/v1/me", json={"bio": "again"}, headers=member.headers).status_code == 403
    # The rights the law gives stay available without accepting: deleting the account, exporting one's data.
    assert client.post("/api/v1/me/data-exports", json={}, headers=member.headers).status_code == 202


def _personal_strings(app, openid: str, user_id: int) -> list[str]:
    with app.app_context():
        from forum.members import User

        user = db.session.get(User, user_id)
        return [user.username, user.display_name, user.bio, openid, f"u-{openid}", "13987654321", "张小明", "世纪大道"]


def _columns_holding(app, needles: list[str]) -> list[str]:
    """Every text or JSON column of every table that still holds one of the needles."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text | JSON):
                    continue
                as_text = cast(column, Text) if isinstance(column.type, JSON) else column
                hit = db.session.execute(
                    select(table.c[column.name]).where(or_(*(as_text.contains(needle) for needle in needles))).limit(1)
                ).first()
                if hit is not None:
                    found.append(f"{table.name}.{column.name}")
    return found


def test_a_deleted_account_keeps_no_personal_data_and_its_content_stays_anonymised(app, client, members, wechat, forum):
    headers, signed_in = _wechat_member(client, wechat, "o-leaver")
    user_id, refresh = signed_in["user"]["id"], signed_in["refresh_token"]
    client.patch(
        "/api/v1/me", json={"display_name": "离开的人", "bio": "喜欢乐高城市系列", "region": "杭州"}, headers=headers
    )
    wechat.phone_codes["leave"] = "13987654321"
    client.put("/api/v1/me/phone", json={"code": "leave"}, headers=headers)
    _address(client, type("M", (), {"headers": headers})())
    board = forum.board()
    post = client.post(
        "/api/v1/posts",
        json={"board_id": board["id"], "title": "我的第一帖", "body": "大家好，很高兴来到社区"},
        headers=headers,
    ).get_json()
    client.put(f"/api/v1/users/{user_id}/tags", json={"tags": ["城市系列"]}, headers=headers)
    admin = members.create(role="admin")
    granted = client.post(
        f"/api/v1/users/{user_id}/points/grants", json={"points": 120, "reason": "活动奖励"}, headers=admin.headers
    )
    assert granted.status_code == 201, granted.get_json()
    needles = _personal_strings(app, "o-leaver", user_id)

    bad = client.post("/api/v1/me/deletion", json={"confirm": "yes"}, headers=headers)
    assert bad.status_code == 422
    asked = client.post("/api/v1/me/deletion", json={"confirm": "注销"}, headers=headers)
    assert asked.status_code == 202 and asked.get_json()["deletion_due_at"]
    assert client.get("/api/v1/me", headers=headers).status_code == 401  # every session ended at once
    runner = app.test_cli_runner()
    assert "erased 0 account(s)" in runner.invoke(args=["members", "erase-deleted"]).output  # still cooling off
    clock.set_now(clock.now() + timedelta(days=8))
    try:
        assert "erased 1 account(s)" in runner.invoke(args=["members", "erase-deleted"]).output
        assert "erased 0 account(s)" in runner.invoke(args=["members", "erase-deleted"]).output
    finally:
        clock.set_now(None)

    assert _columns_holding(app, needles) == []
    shown = client.get(f"/api/v1/posts/{post['id']}").get_json()
    assert shown["author"]["display_name"] == "已注销用户"
    assert client.post("/api/v1/auth/refresh", headers=bearer(refresh)).status_code == 401
    with app.app_context():
        from economy.ledger import verify

        assert verify() == []
    assert client.get("/api/v1/me/points", headers=headers).status_code == 401  # the old access token is refused too
    # The same WeChat account signing in later starts afresh; the old username stays retired.
    fresh_headers, fresh = _wechat_member(client, wechat, "o-leaver")
    assert fresh["created"] is True and fresh["user"]["id"] != user_id


def test_a_deleted_username_stays_retired(app, client, members, settings):
    member = members.create("goneforgood")
    client.post("/api/v1/me/deletion", json={"confirm": "注销"}, headers=member.headers)
    clock.set_now(clock.now() + timedelta(days=8))
    try:
        app.test_cli_runner().invoke(args=["members", "erase-deleted"])
        again = client.post("/api/v1/auth/register", json={"username": "GoneForGood", "password": PASSWORD})
        assert again.status_code == 409 and again.get_json()["error"]["code"] == "username_taken"
        clock.set_now(clock.now() + timedelta(days=181))
        later = client.post("/api/v1/auth/register", json={"username": "goneforgood", "password": PASSWORD})
        assert later.status_code == 201
    finally:
        clock.set_now(None)


def test_signing_in_during_the_cooling_off_period_cancels_the_deletion(app, client, members):
    member = members.create("changedmind")
    client.post("/api/v1/me/deletion", json={"confirm": "注销"}, headers=member.headers)
    again = client.post("/api/v1/auth/login", json={"username": "changedmind", "password": PASSWORD})
    assert again.status_code == 200
    clock.set_now(clock.now() + timedelta(days=30))
    try:
        assert "erased 0 account(s)" in app.test_cli_runner().invoke(args=["members", "erase-deleted"]).output
    finally:
        clock.set_now(None)
    assert client.get("/api/v1/me", headers=bearer(again.get_json()["access_token"])).status_code == 200


def test_the_export_holds_every_record_and_its_link_expires(app, client, members, wechat, forum):
    headers, signed_in = _wechat_member(client, wechat, "o-curious")
    user_id = signed_in["user"]["id"]
    me = type("M", (), {"headers": headers})()
    _address(client, me)
    board = forum.board()
    post = client.post(
        "/api/v1/posts",
        json={"board_id": board["id"], "title": "导出测试", "body": "我想看看我的数据"},
        headers=headers,
    ).get_json()
    other, admin = members.create(), members.create(role="admin")
    client.post(f"/api/v1/users/{user_id}/points/grants", json={"points": 30, "reason": "欢迎"}, headers=admin.headers)
    client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "我来回复一下"}, headers=headers)
    client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "别人的回复"}, headers=other.headers)
    asked = client.post("/api/v1/me/data-exports", json={"format": "zip"}, headers=headers)
    assert asked.status_code == 202 and asked.get_json()["status"] == "pending" and asked.get_json()["download"] is None
    again = client.post("/api/v1/me/data-exports", json={"format": "zip"}, headers=headers).get_json()
    assert again["id"] == asked.get_json()["id"]  # one in preparation at a time
    assert "prepared 1 export(s)" in app.test_cli_runner().invoke(args=["members", "prepare-exports"]).output
    ready = client.get(f"/api/v1/me/data-exports/{again['id']}", headers=headers).get_json()
    assert ready["status"] == "ready" and ready["download"]["url"].startswith(f"/api/v1/data-exports/{again['id']}/")
    assert client.get(f"/api/v1/me/data-exports/{again['id']}", headers=other.headers).status_code == 404
    downloaded = client.get(ready["download"]["url"])
    assert downloaded.status_code == 200 and downloaded.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(downloaded.get_data()))
    sections = {name.removesuffix(".json"): json.loads(archive.read(name)) for name in archive.namelist()}
    expected = {
        "profile",
        "posts",
        "replies",
        "ideas",
        "idea_comments",
        "supports",
        "poll_votes",
        "ledger",
        "orders",
        "addresses",
        "interest_tags",
        "consents",
    }
    assert set(sections) == expected
    assert sections["profile"]["id"] == user_id and sections["profile"]["wechat"]["openid"] == "o-curious"
    assert [p["title"] for p in sections["posts"]] == ["导出测试"]
    assert [r["body"] for r in sections["replies"]] == ["我来回复一下"]  # only the member's own
    assert sections["addresses"][0]["detail"] == HOME["detail"]
    grants = [e for e in sections["ledger"] if e["source"] == "staff_grant"]
    assert [(e["measure"], e["amount"], e["memo"]) for e in grants] == [("points", 30, "欢迎")]
    points = sum(e["amount"] for e in sections["ledger"] if e["measure"] == "points")
    assert sections["profile"]["points_balance"] == points > 30  # the grant and what posting earned
    tampered = ready["download"]["url"].replace("signature=", "signature=0")
    assert client.get(tampered[:-1]).status_code in (404, 422)
    clock.set_now(clock.now() + timedelta(hours=1))
    try:
        expired = client.get(ready["download"]["url"])
        assert expired.status_code == 409 and expired.get_json()["error"]["code"] == "download_link_expired"
    finally:
        clock.set_now(None)
    json_export = client.post("/api/v1/me/data-exports", json={"format": "json"}, headers=headers).get_json()
    app.test_cli_runner().invoke(args=["members", "prepare-exports"])
    link = client.get(f"/api/v1/me/data-exports/{json_export['id']}", headers=headers).get_json()["download"]["url"]
    assert set(json.loads(client.get(link).get_data())) == expected
