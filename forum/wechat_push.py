"""Messages WeChat pushes to the server (消息推送), in JSON, plain or encrypted ("安全模式").

Plain mode: `signature` = SHA-1 of the sorted token, timestamp and nonce. Encrypted mode: `msg_signature` = SHA-1
of the sorted token, timestamp, nonce and the `Encrypt` field; the message is AES-256-CBC with the key
base64(WECHAT_PUSH_AES_KEY + "="), the IV its first 16 bytes, PKCS#7 padding to 32 bytes, and the plaintext is
16 random bytes, the message length (4 bytes, big-endian), the message, and the app id. Timestamps older than
the tolerance are refused, so a captured push cannot be replayed later.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kernel.errors import BadRequest, DependencyDown, Unauthenticated

TOLERANCE_SECONDS = 300
BLOCK = 32


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of text that may hold any characters (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(expected.encode(), given.encode())


def _sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature(token: str, timestamp: str, nonce: str, encrypted: str | None = None) -> str:
    return _sha1(token, timestamp, nonce, *([encrypted] if encrypted is not None else []))


def _key(aes_key: str) -> bytes:
    try:
        key = base64.b64decode(aes_key + "=")
    except ValueError as exc:
        raise DependencyDown("WECHAT_PUSH_AES_KEY is not valid", code="wechat_push_misconfigured") from exc
    if len(key) != 32:
        raise DependencyDown("WECHAT_PUSH_AES_KEY is not valid", code="wechat_push_misconfigured")
    return key


def encrypt(aes_key: str, appid: str, message: str) -> str:
    """What WeChat does to a message in encrypted mode (used to answer, and by tests acting as WeChat)."""
    key = _key(aes_key)
    raw = message.encode()
    plain = os.urandom(16) + struct.pack(">I", len(raw)) + raw + appid.encode()
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(aes_key: str, appid: str, encrypted: str) -> str:
    key = _key(aes_key)
    try:
        data = base64.b64decode(encrypted, validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise ValueError("bad padding")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        message, sender = plain[20 : 20 + length], plain[20 + length :]
    except (ValueError, struct.error) as exc:
        raise Unauthenticated("the push message does not decrypt", code="bad_push_message") from exc
    if not hmac.compare_digest(sender, appid.encode()):
        raise Unauthenticated("the push message is for another app", code="bad_push_message")
    return message.decode()


def _fresh(timestamp: str, now: float | None) -> None:
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        raise Unauthenticated("the push message is too old or from the future", code="stale_signature")


def verify_url(token: str, args: dict[str, str], now: float | None = None) -> str:
    """The server-address check WeChat makes when the push URL is configured: answer `echostr` if genuine."""
    if not token:
        raise DependencyDown("push messages are not configured", code="wechat_push_not_configured")
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not _same(signature(token, timestamp, nonce), args.get("signature", "")):
        raise Unauthenticated("the signature does not match", code="bad_signature")
    _fresh(timestamp, now)
    return args.get("echostr", "")


def open_message(
    token: str, aes_key: str, appid: str, args: dict[str, str], body: bytes, now: float | None = None
) -> dict[str, Any]:
    """A genuine push message, decrypted if it came encrypted; anything else is refused."""
    if not token:
        raise DependencyDown("push messages are not configured", code="wechat_push_not_configured")
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if args.get("encrypt_type") != "aes":
        # Plain mode: the signature covers no body, so it is checked before the body is even read.
        if not _same(signature(token, timestamp, nonce), args.get("signature", "")):
            raise Unauthenticated("the signature does not match", code="bad_signature")
        _fresh(timestamp, now)
        return _object(body)
    try:
        encrypted = json.loads(body).get("Encrypt")
    except (ValueError, AttributeError):
        encrypted = None
    if not isinstance(encrypted, str) or not aes_key:
        raise Unauthenticated("an encrypted push message without its key", code="bad_push_message")
    if not _same(signature(token, timestamp, nonce, encrypted), args.get("msg_signature", "")):
        raise Unauthenticated("the signature does not match", code="bad_signature")
    _fresh(timestamp, now)
    return _object(decrypt(aes_key, appid, encrypted).encode())


def _object(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise BadRequest("the push message is not JSON", code="malformed_json") from exc
    if not isinstance(message, dict):
        raise BadRequest("the push message is not an object", code="malformed_json")
    return message
