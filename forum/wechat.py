"""Client for WeChat mini-program sign-in (code2Session)."""

from collections.abc import Callable
from dataclasses import dataclass

import requests

from kernel.errors import DependencyDown, DomainError, Forbidden, RateLimited, Unauthenticated


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
