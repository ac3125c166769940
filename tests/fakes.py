"""Fake external services on 127.0.0.1, each a small HTTP server that answers as the real one would.

`LocalServer` holds the plumbing (a threaded server on a free port, the request as a plain record, JSON answers);
each fake only says how it answers.
"""

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    target: str  # path and query as sent
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Answer = tuple[Any, ...]  # status, a JSON-able body (or raw bytes), and optionally the headers to send


class LocalServer:
    server: ThreadingHTTPServer | None = None

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    def signed_headers(self, payload: bytes) -> dict[str, str]:
        """Extra headers on every answer (a server that signs its answers says how)."""
        return {}

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    target=self.path,
                    path=url.path,
                    query={k: v[0] for k, v in parse_qs(url.query).items()},
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                status, body, *extra = fake.answer(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (extra[0] if extra else fake.signed_headers(payload)).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class FakeWeChat(LocalServer):
    """api.weixin.qq.com as a mini-program's server meets it: jscode2session (answering from a table of codes),
    stable_token (one token while it lives, a new one on force_refresh) and subscribeMessage.send, which, as
    WeChat does, delivers only to members holding a one-time consent for the template (43101 otherwise) and only
    with a current token (40001 otherwise)."""

    answers: dict[str, tuple[int, object]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    consents: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, template_id) → one-time grants
    delivered: list[dict] = field(default_factory=list)
    phone_codes: dict[str, str] = field(default_factory=dict)  # getPhoneNumber code → the member's number
    # msgSecCheck: a word in the text → its verdict (everything else passes); mediaCheckAsync requests, kept.
    text_verdicts: dict[str, str] = field(default_factory=lambda: {"违禁词": "risky", "待审词": "review"})
    media_checks: list[dict] = field(default_factory=list)
    token: str = ""
    tokens_issued: int = 0

    def _credentials_ok(self, appid: str | None, secret: str | None) -> bool:
        return appid == "wx-test-app" and secret == "wx-test-secret"

    def answer(self, request: Request) -> Answer:
        self.requests.append({"path": request.path, **request.query})
        if request.path == "/sns/jscode2session":
            if not self._credentials_ok(request.query.get("appid"), request.query.get("secret")):
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            return self.answers.get(request.query.get("js_code", ""), (200, {"errcode": 40029}))
        if request.path == "/cgi-bin/stable_token" and request.method == "POST":
            body = json.loads(request.body)
            if body.get("grant_type") != "client_credential" or not self._credentials_ok(
                body.get("appid"), body.get("secret")
            ):
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            if body.get("force_refresh") or not self.token:
                self.tokens_issued += 1
                self.token = f"token-{self.tokens_issued}-{uuid.uuid4().hex[:8]}"
            return 200, {"access_token": self.token, "expires_in": 7200}
        needs_token = request.method == "POST" and request.path.startswith(("/cgi-bin/message/", "/wxa/"))
        if needs_token and (not self.token or request.query.get("access_token") != self.token):
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        if request.path == "/wxa/msg_sec_check":
            body = json.loads(request.body)
            if body.get("version") != 2 or not body.get("openid") or body.get("scene") not in (1, 2, 3, 4):
                return 200, {"errcode": 47001, "errmsg": "data format error"}
            suggest = next((v for word, v in self.text_verdicts.items() if word in body.get("content", "")), "pass")
            label = 100 if suggest == "pass" else 20006
            return 200, {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "trace_id": uuid.uuid4().hex,
            }
        if request.path == "/wxa/media_check_async":
            body = json.loads(request.body)
            if body.get("version") != 2 or not body.get("openid") or not body.get("media_url"):
                return 200, {"errcode": 47001, "errmsg": "data format error"}
            trace_id = uuid.uuid4().hex
            self.media_checks.append({**body, "trace_id": trace_id})
            return 200, {"errcode": 0, "errmsg": "ok", "trace_id": trace_id}
        if request.path == "/wxa/business/getuserphonenumber":
            number = self.phone_codes.pop(json.loads(request.body).get("code", ""), None)  # a code works once
            if number is None:
                return 200, {"errcode": 40029, "errmsg": "invalid code"}
            info = {"phoneNumber": number, "purePhoneNumber": number, "countryCode": "86"}
            if number.startswith("+"):
                info.update(purePhoneNumber=number[3:], countryCode=number[1:3])
            stamp = {"appid": "wx-test-app", "timestamp": int(time.time())}
            return 200, {"errcode": 0, "errmsg": "ok", "phone_info": {**info, "watermark": stamp}}
        if request.path == "/cgi-bin/message/subscribe/send" and request.method == "POST":
            body = json.loads(request.body)
            grant = (body.get("touser", ""), body.get("template_id", ""))
            if self.consents.get(grant, 0) < 1:
                return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            self.consents[grant] -= 1
            self.delivered.append(body)
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": 404}

    def expire_token(self) -> None:
        """WeChat rotated the token (another service forced a refresh): the one we hold is now invalid."""
        self.token = f"rotated-{uuid.uuid4().hex[:8]}"


@dataclass
class FakePaymentProvider(LocalServer):
    """The payment provider's refund API: checks our signature, records refunds, answers an id."""

    secret: str = ""
    refunds: list[dict] = field(default_factory=list)
    fail: bool = False

    def answer(self, request: Request) -> Answer:
        from c2b.payments import sign

        header = request.headers.get("X-Payment-Signature", "")
        timestamp = int(dict(part.split("=", 1) for part in header.split(","))["t"])
        ok = request.path == "/refunds" and sign(self.secret, timestamp, request.body) == header and not self.fail
        if not ok:
            return 500, {"error": "no"}
        self.refunds.append(json.loads(request.body))
        return 200, {"refund_id": f"rf-{len(self.refunds)}"}


def rsa_key_pair():
    """A fresh RSA-2048 key: (key, private PEM, public PEM), as a merchant or WeChat Pay holds one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, private, public.decode()


@dataclass
class FakeWeChatPay(LocalServer):
    """api.mch.weixin.qq.com's v3 API as a mini-program merchant uses it. It really checks the merchant's request
    signatures (with the merchant's public key), really signs its answers and notifications (its own RSA key,
    announced by `public_key_id`) and really encrypts notification resources (AES-256-GCM, the APIv3 key)."""

    merchant_public_pem: str = ""
    mchid: str = "1900000001"
    apiv3_key: str = "0123456789abcdef0123456789abcdef"
    public_key_id: str = "PUB_KEY_ID_0000000001"
    transactions: dict[str, dict] = field(default_factory=dict)
    refunds: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key, _, self.public_pem = rsa_key_pair()

    def signed_headers(self, payload: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        from c2b.wechatpay import sign

        stamp, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex
        message = f"{stamp}\n{nonce}\n{payload.decode()}\n"
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sign(self._key, message),
            "Wechatpay-Serial": self.public_key_id,
        }

    def _caller_is_merchant(self, request: Request) -> bool:
        from cryptography.hazmat.primitives import serialization

        from c2b.wechatpay import SCHEME, verify

        header = request.headers.get("Authorization", "")
        if not header.startswith(SCHEME + " "):
            return False
        fields = dict(part.split("=", 1) for part in header[len(SCHEME) + 1 :].split(","))
        fields = {key: value.strip('"') for key, value in fields.items()}
        if fields.get("mchid") != self.mchid or abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
            return False
        message = f"{request.method}\n{request.target}\n{fields['timestamp']}\n{fields['nonce_str']}\n"
        message += request.body.decode() + "\n"
        merchant = serialization.load_pem_public_key(self.merchant_public_pem.encode())
        return verify(merchant, message.encode(), fields.get("signature", ""))  # type: ignore[arg-type]

    def answer(self, request: Request) -> Answer:
        if not self._caller_is_merchant(request):
            self.refused.append(request.target)
            return 401, {"code": "SIGN_ERROR", "message": "签名错误"}
        if request.method == "POST" and request.path == "/v3/pay/transactions/jsapi":
            order = json.loads(request.body)
            prepay_id = f"wx{uuid.uuid4().hex[:26]}"
            self.transactions[order["out_trade_no"]] = {**order, "prepay_id": prepay_id, "trade_state": "NOTPAY"}
            return 200, {"prepay_id": prepay_id}
        prefix = "/v3/pay/transactions/out-trade-no/"
        if request.method == "GET" and request.path.startswith(prefix):
            found = self.transactions.get(request.path[len(prefix) :])
            if found is None:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            return 200, self.transaction(found["out_trade_no"])
        if request.method == "POST" and request.path == "/v3/refund/domestic/refunds":
            refund = json.loads(request.body)
            self.refunds.append(refund)
            return 200, {
                "refund_id": f"50{len(self.refunds):030d}",
                "out_refund_no": refund["out_refund_no"],
                "status": "PROCESSING",
            }
        return 404, {"code": "NOT_FOUND", "message": "no such API"}

    def pay(self, out_trade_no: str) -> None:
        """The member pays in WeChat."""
        self.transactions[out_trade_no].update(
            trade_state="SUCCESS", transaction_id=f"42{uuid.uuid4().int % 10**26:026d}"
        )

    def transaction(self, out_trade_no: str) -> dict:
        found = self.transactions[out_trade_no]
        return {
            "appid": found["appid"],
            "mchid": found["mchid"],
            "out_trade_no": out_trade_no,
            "transaction_id": found.get("transaction_id", ""),
            "trade_state": found["trade_state"],
            "amount": {"total": found["amount"]["total"], "payer_total": found["amount"]["total"], "currency": "CNY"},
            "payer": found["payer"],
        }

    def notification(self, event_type: str, resource: dict, *, timestamp: int | None = None) -> tuple[dict, bytes]:
        """A notification as WeChat Pay posts it: the resource encrypted, the whole body signed."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce, associated = uuid.uuid4().hex[:12], "transaction"
        ciphertext = AESGCM(self.apiv3_key.encode()).encrypt(
            nonce.encode(), json.dumps(resource).encode(), associated.encode()
        )
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                "event_type": event_type,
                "resource_type": "encrypt-resource",
                "summary": "支付成功",
                "resource": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "nonce": nonce,
                    "associated_data": associated,
                    "original_type": "transaction",
                },
            }
        ).encode()
        return self.signed_headers(body, timestamp=timestamp), body


@dataclass
class FakeSentry(LocalServer):
    """Sentry's ingestion endpoint: accepts envelopes for project 1 from the right public key, keeps their items."""

    public_key: str = "publickey"
    events: list[dict] = field(default_factory=list)

    @property
    def dsn(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{self.public_key}@{host}:{port}/1"

    def answer(self, request: Request) -> Answer:
        import gzip

        auth = request.headers.get("X-Sentry-Auth", "")
        if request.path != "/api/1/envelope/" or f"sentry_key={self.public_key}" not in auth:
            return 403, {"detail": "bad key"}
        body = request.body
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                self.events.append(json.loads(payload))
        return 200, {"id": uuid.uuid4().hex}
