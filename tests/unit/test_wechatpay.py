"""The WeChat Pay v3 client against a fake WeChat Pay on 127.0.0.1 that really signs, verifies and encrypts."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from c2b.wechatpay import Settings, WeChatPayClient
from kernel.errors import DependencyDown, Unauthenticated
from tests.fakes import FakeWeChatPay, rsa_key_pair


@pytest.fixture(scope="module")
def merchant():
    return rsa_key_pair()


@pytest.fixture()
def fake(merchant):
    server = FakeWeChatPay(merchant_public_pem=merchant[2]).start()
    yield server
    server.stop()


def _client(fake: FakeWeChatPay, private_pem: str, **changes) -> WeChatPayClient:
    settings = {
        "api_base": fake.base_url,
        "mchid": fake.mchid,
        "appid": "wx-test-app",
        "cert_serial": "MERCHANT-SERIAL-1",
        "private_key_pem": private_pem,
        "apiv3_key": fake.apiv3_key,
        "public_key_pem": fake.public_pem,
        "public_key_id": fake.public_key_id,
        "notify_url": "https://community.example.com/api/v1/payments/wechatpay/notify",
        **changes,
    }
    return WeChatPayClient(Settings(**settings))


def test_prepay_and_the_parameters_the_mini_program_signs_with(fake, merchant):
    key, private, public = merchant
    client = _client(fake, private)
    prepay_id = client.jsapi_prepay(
        out_trade_no="PS20261128001", description="龙舟套装 定金", amount_cents=5000, openid="o-fan"
    )
    sent = fake.transactions["PS20261128001"]
    assert sent["amount"] == {"total": 5000, "currency": "CNY"} and sent["payer"] == {"openid": "o-fan"}
    params = client.request_payment_params(prepay_id)
    assert params["package"] == f"prepay_id={prepay_id}" and params["signType"] == "RSA"
    message = f"wx-test-app\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    key.public_key().verify(base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())


def test_query_and_refund(fake, merchant):
    client = _client(fake, merchant[1])
    client.jsapi_prepay(out_trade_no="PS2", description="尾款", amount_cents=34900, openid="o-fan")
    assert client.query("PS2")["trade_state"] == "NOTPAY"
    fake.pay("PS2")
    assert client.query("PS2")["trade_state"] == "SUCCESS"
    refund = client.refund(
        out_trade_no="PS2", out_refund_no="RF2", refund_cents=34900, total_cents=34900, reason="未成团"
    )
    assert refund["status"] == "PROCESSING"
    assert fake.refunds[0]["amount"] == {"refund": 34900, "total": 34900, "currency": "CNY"}


def test_a_request_signed_with_another_key_is_refused(fake):
    stranger = _client(fake, rsa_key_pair()[1])
    with pytest.raises(DependencyDown) as refused:
        stranger.jsapi_prepay(out_trade_no="PS3", description="x", amount_cents=1, openid="o")
    assert refused.value.details["provider_code"] == "SIGN_ERROR" and fake.refused


def test_an_answer_not_signed_by_wechat_pay_is_not_believed(fake, merchant):
    impostor_key = rsa_key_pair()[2]
    client = _client(fake, merchant[1], public_key_pem=impostor_key)
    with pytest.raises(DependencyDown, match="not signed"):
        client.jsapi_prepay(out_trade_no="PS4", description="x", amount_cents=1, openid="o")


def test_notifications_are_verified_then_decrypted(fake, merchant):
    client = _client(fake, merchant[1])
    resource = {"out_trade_no": "PS5", "trade_state": "SUCCESS", "amount": {"total": 5000, "currency": "CNY"}}
    headers, body = fake.notification("TRANSACTION.SUCCESS", resource)
    opened = client.open_notification(headers, body)
    assert opened["event_type"] == "TRANSACTION.SUCCESS" and opened["resource"] == resource
    # The same notification again opens the same way: de-duplicating it is the payment ledger's job.
    assert client.open_notification(headers, body)["id"] == opened["id"]

    tampered = body.replace(b"TRANSACTION.SUCCESS", b"REFUND.SUCCESS")
    with pytest.raises(Unauthenticated) as bad:
        client.open_notification(headers, tampered)
    assert bad.value.code == "bad_signature"

    stale_headers, stale_body = fake.notification("TRANSACTION.SUCCESS", resource, timestamp=int(time.time()) - 3600)
    with pytest.raises(Unauthenticated) as stale:
        client.open_notification(stale_headers, stale_body)
    assert stale.value.code == "stale_notification"

    with pytest.raises(Unauthenticated) as other_serial:
        client.open_notification({**headers, "Wechatpay-Serial": "PUB_KEY_ID_OLD"}, body)
    assert other_serial.value.code == "bad_signature"

    wrong_key = _client(fake, merchant[1], apiv3_key="f" * 32)
    with pytest.raises(Unauthenticated) as undecryptable:
        wrong_key.open_notification(headers, body)
    assert undecryptable.value.code == "bad_notification"
    assert json.loads(body)["resource"]["ciphertext"] not in json.dumps(resource)  # it really was encrypted
