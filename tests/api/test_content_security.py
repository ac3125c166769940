"""WeChat content security on what members publish, against a fake WeChat on 127.0.0.1: text verdicts decide at
once, image verdicts arrive later as signed (and encrypted) push messages."""

import base64
import json
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from forum import wechat_push
from kernel.db import db
from tests.fakes import FakeWeChat
from tests.support import bearer

PUSH_TOKEN = "push-token-1"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters, as WeChat hands it out


@pytest.fixture()
def wechat(app, settings):
    fake = FakeWeChat().start()
    settings(WECHAT_API_BASE=fake.base_url, WECHAT_PUSH_TOKEN=PUSH_TOKEN, WECHAT_PUSH_AES_KEY=AES_KEY)
    yield fake
    fake.stop()


def _wechat_member(client, wechat, openid: str) -> dict:
    wechat.answers[f"code-{openid}"] = (200, {"openid": openid, "session_key": "sk"})
    return bearer(client.post("/api/v1/auth/wechat", json={"code": f"code-{openid}"}).get_json()["access_token"])


def _post(client, headers, board, body="今天拼完了一个城市系列", **extra):
    return client.post(
        "/api/v1/posts", json={"board_id": board["id"], "title": "分享我的作品", "body": body, **extra}, headers=headers
    )


def test_text_verdicts_refuse_hold_or_publish(app, client, members, forum, wechat, settings):
    board = forum.board()
    headers = _wechat_member(client, wechat, "o-writer")
    passed = _post(client, headers, board)
    assert passed.status_code == 201 and passed.get_json()["status"] == "published"
    risky = _post(client, headers, board, body="这里有违禁词")
    assert risky.status_code == 422 and risky.get_json()["error"]["code"] == "content_risky"
    held = _post(client, headers, board, body="这里有待审词")
    assert held.status_code == 201 and held.get_json()["status"] == "pending_review"
    moderator = members.create(role="moderator")
    queue = client.get("/api/v1/moderation/queue?subject_type=post", headers=moderator.headers).get_json()["items"]
    assert [(i["subject_id"], i["reason"]) for i in queue] == [(held.get_json()["id"], "wechat")]
    reply = client.post(
        f"/api/v1/posts/{passed.get_json()['id']}/replies", json={"body": "违禁词回复"}, headers=headers
    )
    assert reply.status_code == 422 and reply.get_json()["error"]["code"] == "content_risky"
    bio = client.patch("/api/v1/me", json={"bio": "简介里有违禁词"}, headers=headers)
    assert bio.status_code == 422
    checks = [r for r in wechat.requests if r["path"] == "/wxa/msg_sec_check"]
    assert len(checks) == 5  # every text went to WeChat, with a token
    # A member without a WeChat identity has the local word filter alone.
    password_member = members.create()
    assert _post(client, password_member.headers, board, body="这里有违禁词").status_code == 201
    # WeChat down: held for review, never published unchecked.
    settings(WECHAT_API_BASE="http://127.0.0.1:9")
    outage = _post(client, headers, board, body="平常的一句话")
    assert outage.status_code == 201 and outage.get_json()["status"] == "pending_review"
    assert client.patch("/api/v1/me", json={"bio": "平常的简介"}, headers=headers).status_code == 503


def _push(client, message: dict, *, encrypted: bool = True, timestamp: int | None = None, tamper: bool = False):
    stamp, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
    if encrypted:
        sealed = wechat_push.encrypt(AES_KEY, "wx-test-app", json.dumps(message))
        signature = wechat_push.signature(PUSH_TOKEN, stamp, nonce, sealed)
        query = f"timestamp={stamp}&nonce={nonce}&encrypt_type=aes&msg_signature={signature}"
        body = {"ToUserName": "gh_test", "Encrypt": sealed + ("x" if tamper else "")}
    else:
        signature = wechat_push.signature(PUSH_TOKEN, stamp, nonce)
        query = f"signature={'0' * 40 if tamper else signature}&timestamp={stamp}&nonce={nonce}"
        body = message
    return client.post(f"/api/v1/wechat/push?{query}", data=json.dumps(body), content_type="application/json")


def _verdict(trace_id: str, suggest: str) -> dict:
    return {
        "ToUserName": "gh_test",
        "FromUserName": "o-system",
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": "wx-test-app",
        "trace_id": trace_id,
        "version": 2,
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": 20002}],
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": 20002 if suggest != "pass" else 100},
    }


def _upload(client, headers, png_bytes) -> dict:
    answer = client.post(
        "/api/v1/media", data={"file": (png_bytes(), "a.png")}, headers=headers, content_type="multipart/form-data"
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_images_wait_for_their_verdict_and_a_risky_one_pulls_its_posts(app, client, members, forum, png_bytes, wechat):
    board = forum.board()
    headers = _wechat_member(client, wechat, "o-artist")
    risky_image, good_image = _upload(client, headers, png_bytes), _upload(client, headers, png_bytes)
    assert risky_image["check"] == "pending"
    assert client.get(risky_image["url"]).status_code == 404  # held until WeChat answers
    asked = {c["media_url"].split("?")[0].rsplit("/", 1)[1]: c for c in wechat.media_checks}
    assert set(asked) == {str(risky_image["id"]), str(good_image["id"])}
    check_url = urlparse(asked[str(risky_image["id"])]["media_url"])
    params = {k: v[0] for k, v in parse_qs(check_url.query).items()}
    fetched = client.get(f"{check_url.path}?expires={params['expires']}&check={params['check']}")
    assert fetched.status_code == 200 and fetched.mimetype == "image/png"  # WeChat can fetch what it checks
    fetched.close()
    forged = client.get(f"{check_url.path}?expires={params['expires']}&check={'0' * 64}")
    assert forged.status_code == 404
    post = _post(client, headers, board, image_ids=[risky_image["id"]]).get_json()
    assert post["status"] == "published"

    trace = asked[str(risky_image["id"])]["trace_id"]
    assert _push(client, _verdict(trace, "risky"), tamper=True).status_code == 401
    assert _push(client, _verdict(trace, "risky"), timestamp=int(time.time()) - 3600).status_code == 401
    first = _push(client, _verdict(trace, "risky"))
    assert first.status_code == 200 and first.get_data(as_text=True) == "success"
    assert _push(client, _verdict(trace, "pass")).status_code == 200  # a later, contrary push changes nothing
    assert client.get(risky_image["url"]).status_code == 404
    shown = client.get(f"/api/v1/posts/{post['id']}", headers=headers).get_json()
    assert shown["status"] == "pending_review"
    moderator = members.create(role="moderator")
    queue = client.get("/api/v1/moderation/queue?subject_type=post", headers=moderator.headers).get_json()["items"]
    assert [(i["subject_id"], i["reason"]) for i in queue] == [(post["id"], "media")]

    good_trace = asked[str(good_image["id"])]["trace_id"]
    assert _push(client, _verdict(good_trace, "pass"), encrypted=False).status_code == 200  # plain mode too
    served = client.get(good_image["url"])
    assert served.status_code == 200
    served.close()


def test_the_push_address_check_and_unknown_events(client, wechat):
    stamp, nonce = str(int(time.time())), "n0nce"
    signature = wechat_push.signature(PUSH_TOKEN, stamp, nonce)
    query = f"signature={signature}&timestamp={stamp}&nonce={nonce}&echostr=hello-wechat"
    answered = client.get(f"/api/v1/wechat/push?{query}")
    assert answered.status_code == 200 and answered.get_data(as_text=True) == "hello-wechat"
    assert client.get(f"/api/v1/wechat/push?{query.replace(signature, '1' * 40)}").status_code == 401
    assert _push(client, {"MsgType": "event", "Event": "user_enter_tempsession"}).get_data(as_text=True) == "success"
    assert _push(client, _verdict("no-such-trace", "risky")).status_code == 200


def test_an_upload_during_an_outage_is_asked_about_later(app, client, png_bytes, wechat, settings):
    headers = _wechat_member(client, wechat, "o-patient")
    settings(WECHAT_API_BASE="http://127.0.0.1:9")
    image = _upload(client, headers, png_bytes)
    assert image["check"] == "pending" and client.get(image["url"]).status_code == 404
    settings(WECHAT_API_BASE=wechat.base_url)
    assert (
        "asked WeChat about 1 held image(s)"
        in app.test_cli_runner().invoke(args=["moderation", "recheck-media"]).output
    )
    with app.app_context():
        from forum.media import Media

        assert (
            db.session.scalar(select(Media.check_trace_id).where(Media.id == image["id"]))
            == wechat.media_checks[0]["trace_id"]
        )


def test_push_crypto_round_trips_and_refuses_another_app():
    sealed = wechat_push.encrypt(AES_KEY, "wx-test-app", '{"a": "中文"}')
    assert wechat_push.decrypt(AES_KEY, "wx-test-app", sealed) == '{"a": "中文"}'
    with pytest.raises(Exception) as refused:
        wechat_push.decrypt(AES_KEY, "wx-other-app", sealed)
    assert getattr(refused.value, "code", "") == "bad_push_message"
