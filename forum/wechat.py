"""Clients for WeChat: mini-program sign-in (code2Session), the access token and subscribe messages."""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import requests

from kernel.errors import DependencyDown, DomainError, Forbidden, RateLimited, Unauthenticated
from kernel.store import Store, StoreUnavailable


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None


# WeChat's documented errcodes for jscode2session, mapped to what the client should do about them.
_ERRORS: dict[int, Callable[[], DomainError]] = {
    40029: lambda: Unauthenticated("the WeChat login code is invalid", code="wechat_code_invalid"),
    40163: lambda: Unauthenticated("the WeChat login code was already used", code="wechat_code_used"),
    40226: lambda: Forbidden("WeChat flagged this account as high risk", code="wechat_user_blocked"),
    45011: lambda: RateLimited(
        "WeChat is limiting sign-ins, try again shortly", code="wechat_rate_limited", retry_after=60
    ),
    -1: lambda: DependencyDown("WeChat is busy, try again", code="wechat_busy"),
}


class WeChatClient:
    def __init__(self, base_url: str, appid: str, secret: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.timeout = timeout

    def code_to_session(self, code: str) -> WeChatSession:
        if not self.appid or not self.secret:
            raise DependencyDown("WeChat sign-in is not configured", code="wechat_not_configured")
        try:
            response = requests.get(
                f"{self.base_url}/sns/jscode2session",
                params={
                    "appid": self.appid,
                    "secret": self.secret,
                    "js_code": code,
                    "grant_type": "authorization_code",
                },
                timeout=self.timeout,
            )
            # WeChat answers errors with HTTP 200 and an errcode, but guard against gateways in between.
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyDown("WeChat could not be reached", code="wechat_unreachable") from exc
        if not isinstance(body, dict):
            raise DependencyDown("WeChat answered with something unexpected", code="wechat_bad_response")
        errcode = int(body.get("errcode") or 0)
        if errcode:
            if errcode in _ERRORS:
                raise _ERRORS[errcode]()
            # Anything else (bad appid/secret, unknown codes) is our configuration or their outage.
            raise DependencyDown("WeChat sign-in failed", code="wechat_error", details={"errcode": errcode})
        openid, session_key = body.get("openid"), body.get("session_key")
        if not openid or not session_key:
            raise DependencyDown("WeChat answered without an identity", code="wechat_bad_response")
        return WeChatSession(openid=str(openid), session_key=str(session_key), unionid=body.get("unionid"))


# Server-side calls (subscribe messages) need an access token. `stable_token` hands out the same token while it is
# valid, whichever process asks, so workers share it through the store and refresh it only when WeChat says it is
# no longer valid.
TOKEN_KEY = "wechat:access_token"
TOKEN_MARGIN = 300  # seconds before WeChat's expiry that the cached token is dropped
INVALID_TOKEN = {40001, 40014, 42001}


@dataclass(frozen=True)
class SendResult:
    errcode: int
    errmsg: str


class WeChatServerClient:
    """Calls the mini-program makes on its own behalf: the stable access token and subscribeMessage.send."""

    def __init__(self, base_url: str, appid: str, secret: str, store: Store, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.store = store
        self.timeout = timeout

    def _post(self, path: str, body: dict, **params: str) -> dict:
        try:
            response = requests.post(f"{self.base_url}{path}", json=body, params=params, timeout=self.timeout)
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise DependencyDown("WeChat could not be reached", code="wechat_unreachable") from exc
        if not isinstance(answer, dict):
            raise DependencyDown("WeChat answered with something unexpected", code="wechat_bad_response")
        return answer

    def access_token(self, force_refresh: bool = False) -> str:
        if not self.appid or not self.secret:
            raise DependencyDown("WeChat is not configured", code="wechat_not_configured")
        cached = None if force_refresh else self._cached()
        if cached:
            return cached
        answer = self._post(
            "/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force_refresh,
            },
        )
        token, lifetime = answer.get("access_token"), answer.get("expires_in")
        if not token or type(lifetime) is not int:
            errcode = answer.get("errcode")
            raise DependencyDown("WeChat refused an access token", code="wechat_error", details={"errcode": errcode})
        self._remember(str(token), max(lifetime - TOKEN_MARGIN, 1))
        return str(token)

    def _cached(self) -> str | None:
        try:
            return self.store.get(TOKEN_KEY)
        except StoreUnavailable:
            return None  # ask WeChat: stable_token answers the same token again

    def _remember(self, token: str, ttl: int) -> None:
        with contextlib.suppress(StoreUnavailable):
            self.store.set(TOKEN_KEY, token, ttl=ttl)

    def call(self, path: str, body: dict) -> dict:
        """POST an API that takes the access token; a token WeChat calls invalid (another process refreshed it)
        is refreshed once and the call repeated."""
        for attempt in range(2):
            answer = self._post(path, body, access_token=self.access_token(force_refresh=attempt > 0))
            if int(answer.get("errcode") or 0) not in INVALID_TOKEN:
                break
        return answer

    def send_subscribe_message(self, *, openid: str, template_id: str, page: str, data: dict) -> SendResult:
        body = {"touser": openid, "template_id": template_id, "page": page, "data": data, "lang": "zh_CN"}
        answer = self.call("/cgi-bin/message/subscribe/send", body)
        return SendResult(int(answer.get("errcode") or 0), str(answer.get("errmsg", "")))

    def phone_number(self, code: str) -> dict:
        """Trade a `getPhoneNumber` code for the member's number (phone_info: phoneNumber, purePhoneNumber,
        countryCode, watermark)."""
        answer = self.call("/wxa/business/getuserphonenumber", {"code": code})
        errcode = int(answer.get("errcode") or 0)
        if errcode in (40029, 40163):
            raise Unauthenticated("the phone-number code is invalid or used", code="phone_code_invalid")
        if errcode or not isinstance(answer.get("phone_info"), dict):
            raise DependencyDown("WeChat did not give the number", code="wechat_error", details={"errcode": errcode})
        return answer["phone_info"]
