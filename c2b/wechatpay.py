"""WeChat Pay API v3, the way a mini-program pays: JSAPI prepay, the parameters for `wx.requestPayment`, order
query, refunds, and verified, decrypted notifications.

Written on the `cryptography` library rather than an SDK: the whole protocol is two RSA-SHA256 signatures and one
AES-256-GCM decryption, and owning it keeps every key in our configuration, every call on our HTTP client (with
its timeout and base URL, so tests point it at a local fake) and no certificate download at start-up.

- Requests are signed with the merchant key: `WECHATPAY2-SHA256-RSA2048` over
  "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n"; answers are verified with WeChat Pay's public key.
- Notifications are verified the same way (serial = the configured public-key id, timestamp within a tolerance)
  before their `resource` is decrypted with the APIv3 key.
"""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from kernel.errors import DependencyDown, Unauthenticated, ValidationFailed

SCHEME = "WECHATPAY2-SHA256-RSA2048"


@dataclass(frozen=True)
class Settings:
    api_base: str
    mchid: str
    appid: str
    cert_serial: str
    private_key_pem: str
    apiv3_key: str
    public_key_pem: str
    public_key_id: str
    notify_url: str
    timeout: float = 10.0
    tolerance_seconds: int = 300

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Settings | None":
        """None when WeChat Pay is not configured (the embedded default)."""
        if not cfg.get("WECHATPAY_MCHID"):
            return None
        return cls(
            api_base=cfg["WECHATPAY_API_BASE"].rstrip("/"),
            mchid=cfg["WECHATPAY_MCHID"],
            appid=cfg["WECHATPAY_APPID"],
            cert_serial=cfg["WECHATPAY_CERT_SERIAL"],
            private_key_pem=_pem(cfg["WECHATPAY_PRIVATE_KEY"]),
            apiv3_key=cfg["WECHATPAY_APIV3_KEY"],
            public_key_pem=_pem(cfg["WECHATPAY_PUBLIC_KEY"]),
            public_key_id=cfg["WECHATPAY_PUBLIC_KEY_ID"],
            notify_url=cfg["WECHATPAY_NOTIFY_URL"],
            tolerance_seconds=int(cfg.get("PAYMENT_TOLERANCE_SECONDS", 300)),
        )


def _pem(value: str) -> str:
    """PEM text as given, or read from the file it names."""
    return value if "-----BEGIN" in value else Path(value).read_text()


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def decrypt(apiv3_key: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A notification's or certificate's `resource`: AEAD_AES_256_GCM with the APIv3 key."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise ValidationFailed("unsupported resource algorithm", code="bad_notification")
    try:
        plain = AESGCM(apiv3_key.encode()).decrypt(
            resource["nonce"].encode(),
            base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode(),
        )
        return json.loads(plain)
    except (InvalidTag, KeyError, ValueError) as exc:
        raise Unauthenticated("the notification does not decrypt", code="bad_notification") from exc


class WeChatPayClient:
    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        key = serialization.load_pem_private_key(settings.private_key_pem.encode(), password=None)
        public = serialization.load_pem_public_key(settings.public_key_pem.encode())
        if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("WeChat Pay keys must be RSA")
        self._key, self._wechat_key = key, public
        self._http = session or requests.Session()

    # Outgoing calls

    def authorization(self, method: str, url_path: str, body: str, *, nonce: str, timestamp: int) -> str:
        message = f"{method}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n"
        return (
            f'{SCHEME} mchid="{self.settings.mchid}",nonce_str="{nonce}",signature="{sign(self._key, message)}",'
            f'timestamp="{timestamp}",serial_no="{self.settings.cert_serial}"'
        )

    def _call(self, method: str, url_path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": self.authorization(
                method, url_path, body, nonce=secrets.token_hex(16), timestamp=int(time.time())
            ),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            answer = self._http.request(
                method,
                self.settings.api_base + url_path,
                data=body.encode() if body else None,
                headers=headers,
                timeout=self.settings.timeout,
            )
        except requests.RequestException as exc:
            raise DependencyDown("WeChat Pay is unreachable", code="provider_error") from exc
        if not self._signed_by_wechat(answer.headers, answer.content):
            raise DependencyDown("WeChat Pay's answer is not signed by WeChat Pay", code="provider_error")
        data = answer.json() if answer.content else {}
        if answer.status_code >= 400:
            raise DependencyDown(
                f"WeChat Pay refused the call: {data.get('code', answer.status_code)}",
                code="provider_error",
                details={"provider_code": data.get("code"), "provider_message": data.get("message")},
            )
        return data

    def _signed_by_wechat(self, headers: Any, body: bytes) -> bool:
        timestamp, nonce = headers.get("Wechatpay-Timestamp", ""), headers.get("Wechatpay-Nonce", "")
        signature, serial = headers.get("Wechatpay-Signature", ""), headers.get("Wechatpay-Serial", "")
        if serial != self.settings.public_key_id or not (timestamp and nonce and signature):
            return False
        return verify(self._wechat_key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n", signature)

    def jsapi_prepay(self, *, out_trade_no: str, description: str, amount_cents: int, openid: str) -> str:
        data = self._call(
            "POST",
            "/v3/pay/transactions/jsapi",
            {
                "appid": self.settings.appid,
                "mchid": self.settings.mchid,
                "description": description[:127],
                "out_trade_no": out_trade_no,
                "notify_url": self.settings.notify_url,
                "amount": {"total": amount_cents, "currency": "CNY"},
                "payer": {"openid": openid},
            },
        )
        return str(data["prepay_id"])

    def request_payment_params(self, prepay_id: str) -> dict[str, str]:
        """What the mini-program passes to `wx.requestPayment`, signed with the merchant key."""
        timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        message = f"{self.settings.appid}\n{timestamp}\n{nonce}\n{package}\n"
        return {
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": sign(self._key, message),
        }

    def query(self, out_trade_no: str) -> dict[str, Any]:
        return self._call("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.settings.mchid}")

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, refund_cents: int, total_cents: int, reason: str
    ) -> dict[str, Any]:
        return self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "reason": reason[:80],
                "notify_url": self.settings.notify_url,
                "amount": {"refund": refund_cents, "total": total_cents, "currency": "CNY"},
            },
        )

    # Incoming notifications

    def open_notification(self, headers: Any, body: bytes, now: float | None = None) -> dict[str, Any]:
        """Verify a notification (signature, serial, freshness) and return it with `resource` decrypted."""
        stamp = headers.get("Wechatpay-Timestamp", "")
        if not stamp.isdigit() or abs((now or time.time()) - int(stamp)) > self.settings.tolerance_seconds:
            raise Unauthenticated("the notification is stale", code="stale_notification")
        if not self._signed_by_wechat(headers, body):
            raise Unauthenticated("the notification is not signed by WeChat Pay", code="bad_signature")
        try:
            envelope = json.loads(body)
        except ValueError as exc:
            raise ValidationFailed("the notification is not JSON", code="bad_notification") from exc
        return {**envelope, "resource": decrypt(self.settings.apiv3_key, envelope.get("resource") or {})}


def configured_client() -> WeChatPayClient | None:
    """The application's client, built once from its WECHATPAY_* settings; None when WeChat Pay is off."""
    if "wechatpay" not in current_app.extensions:
        settings = Settings.from_config(current_app.config)
        if settings is None:
            return None
        current_app.extensions["wechatpay"] = WeChatPayClient(settings)
    return current_app.extensions["wechatpay"]
