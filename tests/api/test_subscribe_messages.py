"""WeChat subscribe messages: consents reported by the client, spent one per message, sent by the workers with
the shared access token, against a fake WeChat that delivers only to members holding a consent."""

import pytest
from sqlalchemy import select

from forum import subscribe_messages
from forum.notifications import notify
from forum.subscribe_messages import SubscribeConsent, SubscribeMessage
from kernel.db import db
from kernel.unit_of_work import transaction
from tests.conftest import postgres_only
from tests.fakes import FakeWeChat
from tests.support import bearer, run_concurrently

TEMPLATES = {
    "order_shipped": {
        "template_id": "TPL-SHIP",
        "page": "pages/orders/detail?id={subject_id}",
        "data": {"thing1": "title", "thing2": "message", "time3": "time"},
    },
    "refund_completed": "TPL-REFUND",
}


@pytest.fixture()
def wechat(app, settings):
    fake = FakeWeChat().start()
    settings(WECHAT_API_BASE=fake.base_url, WECHAT_SUBSCRIBE_TEMPLATES=TEMPLATES)
    yield fake
    fake.stop()


def _wechat_member(client, wechat, openid: str) -> tuple[dict, int]:
    wechat.answers[f"code-{openid}"] = (200, {"openid": openid, "session_key": "sk"})
    signed_in = client.post("/api/v1/auth/wechat", json={"code": f"code-{openid}"}).get_json()
    return bearer(signed_in["access_token"]), signed_in["user"]["id"]


def _tell(app, user_id: int, topic: str, message: str = "你的订单已发货：顺丰速运 SF1234567890", subject_id: int = 7):
    with app.app_context(), transaction():
        notify(
            user_id, "order", subject=("order", subject_id), message=message, topic=topic, title=f"订单 {subject_id}"
        )


def _messages(app) -> list[SubscribeMessage]:
    with app.app_context():
        return list(db.session.scalars(select(SubscribeMessage).order_by(SubscribeMessage.id)))


def _send(app) -> str:
    return app.test_cli_runner().invoke(args=["wechat", "send-messages"]).output


def test_consents_are_counted_spent_once_and_never_exceeded(app, client, wechat):
    headers, user_id = _wechat_member(client, wechat, "o-fan")
    listed = client.get("/api/v1/me/wechat/subscriptions", headers=headers).get_json()
    assert listed["items"] == [
        {"topic": "order_shipped", "template_id": "TPL-SHIP", "remaining": 0},
        {"topic": "refund_completed", "template_id": "TPL-REFUND", "remaining": 0},
    ]
    _tell(app, user_id, "order_shipped")  # no consent yet: in-app only
    assert _messages(app) == []
    reported = client.post(
        "/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP", "TPL-SHIP", "TPL-OLD"]}, headers=headers
    ).get_json()
    assert reported["ignored"] == ["TPL-OLD"]
    assert {i["template_id"]: i["remaining"] for i in reported["items"]} == {"TPL-SHIP": 2, "TPL-REFUND": 0}
    wechat.consents[("o-fan", "TPL-SHIP")] = 2  # what WeChat itself recorded when the member tapped "accept"
    for subject_id in (7, 8, 9):
        _tell(app, user_id, "order_shipped", subject_id=subject_id)
    _tell(app, user_id, "balance_due")  # a topic without a template stays in the app
    queued = _messages(app)
    assert [m.page for m in queued] == ["pages/orders/detail?id=7", "pages/orders/detail?id=8"]
    assert queued[0].data["thing2"]["value"] == "你的订单已发货：顺丰速运 SF1234…"  # thing values: 20 characters
    assert queued[0].data["thing1"]["value"] == "订单 7" and len(queued[0].data["time3"]["value"]) == 16
    inbox = client.get("/api/v1/me/notifications", headers=headers).get_json()
    assert len(inbox["items"]) == 5  # every notice is in the app, consent or not
    assert "sent 2 subscribe message(s), 0 not sent" in _send(app)
    assert "sent 0 subscribe message(s)" in _send(app)  # nothing is sent twice
    assert [(d["touser"], d["template_id"]) for d in wechat.delivered] == [("o-fan", "TPL-SHIP")] * 2
    assert wechat.tokens_issued == 1  # one stable token, shared by every send
    assert {m.status for m in _messages(app)} == {"sent"}


def test_a_rotated_token_is_refreshed_and_a_refusal_is_believed(app, client, wechat):
    headers, user_id = _wechat_member(client, wechat, "o-two")
    client.post("/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP", "TPL-REFUND"]}, headers=headers)
    wechat.consents[("o-two", "TPL-SHIP")] = 1  # the refund template was accepted on our side only
    _tell(app, user_id, "order_shipped")
    assert "sent 1" in _send(app)
    wechat.expire_token()  # another service forced a refresh: the cached token is now invalid
    client.post("/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP"]}, headers=headers)
    wechat.consents[("o-two", "TPL-SHIP")] = 1
    _tell(app, user_id, "order_shipped", subject_id=8)
    _tell(app, user_id, "refund_completed", message="退款已完成：50.00 CNY 已原路退回")
    assert "sent 1 subscribe message(s), 1 not sent" in _send(app)
    assert wechat.tokens_issued == 2 and len(wechat.delivered) == 2
    refused = _messages(app)[-1]
    assert (refused.status, refused.error.split()[0]) == ("refused", "43101")
    with app.app_context():
        consent = db.session.get(SubscribeConsent, (user_id, "TPL-REFUND"))
        assert consent.remaining == 0  # WeChat knows better: no consent is left


def test_an_unreachable_wechat_leaves_messages_for_the_next_run(app, client, wechat, settings):
    headers, user_id = _wechat_member(client, wechat, "o-three")
    client.post("/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP"]}, headers=headers)
    wechat.consents[("o-three", "TPL-SHIP")] = 1
    _tell(app, user_id, "order_shipped")
    settings(WECHAT_API_BASE="http://127.0.0.1:9")
    for _ in range(subscribe_messages.MAX_ATTEMPTS - 1):
        assert "sent 0 subscribe message(s), 1 not sent" in _send(app)
    assert _messages(app)[0].status == "pending"
    settings(WECHAT_API_BASE=wechat.base_url)
    assert "sent 1 subscribe message(s)" in _send(app)
    assert len(wechat.delivered) == 1


def test_a_password_member_gets_no_subscribe_messages(app, client, wechat, members):
    member = members.create()
    client.post("/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP"]}, headers=member.headers)
    _tell(app, member.id, "order_shipped")
    assert _messages(app) == []
    with app.app_context():
        assert db.session.get(SubscribeConsent, (member.id, "TPL-SHIP")).remaining == 1  # not spent for nothing


@postgres_only
def test_racing_notices_spend_each_consent_once(app, client, wechat):
    headers, user_id = _wechat_member(client, wechat, "o-race")
    client.post("/api/v1/me/wechat/subscriptions", json={"accepted": ["TPL-SHIP"] * 3}, headers=headers)

    def notice(number):
        def job(_client):
            _tell(app, user_id, "order_shipped", subject_id=100 + number)

        return job

    run_concurrently(app, [notice(n) for n in range(12)])
    assert len(_messages(app)) == 3
    with app.app_context():
        assert db.session.get(SubscribeConsent, (user_id, "TPL-SHIP")).remaining == 0
