"""Extension singletons, bound to the app in the factory, and the API object that answers HTTP errors in the
error envelope."""

import time
from http import HTTPStatus

import jwt as pyjwt
from flask import Response, request
from flask_jwt_extended import JWTManager
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.tokens import _decode_jwt
from flask_limiter import Limiter, RateLimitExceeded
from flask_migrate import Migrate
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from api.errors import CODES, ErrorEnvelope, error_response, flatten_validation, internal_error
from kernel import limits_storage  # noqa: F401  (registers the community:// limits backend)


def _client_key() -> str:
    # Behind trusted proxies (TRUSTED_PROXIES), api.proxies has already put the client's address here.
    return request.remote_addr or "unknown"


class CommunityApi(Api):
    ERROR_SCHEMA = ErrorEnvelope

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        if status == 500:
            return internal_error(getattr(error, "original_exception", None) or error)
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))  # RFC 9110 requires it on 405
        if status == 422:
            details = flatten_validation(data.get("messages") or data.get("errors") or {})
            return error_response(422, "validation_failed", "the request did not validate", details, headers)
        if isinstance(error, RateLimitExceeded):
            retry_after = _retry_after(error)
            headers["Retry-After"] = str(retry_after)
            return error_response(
                429,
                "rate_limited",
                "too many requests, slow down",
                {"limit": str(error.limit.limit), "retry_after": retry_after},
                headers,
            )
        if status == 400 and "messages" in data:  # webargs' only 400: the body is not parseable JSON
            return error_response(400, "malformed_json", "the request body is not valid JSON", None, headers)
        message = data.get("message") or error.description or HTTPStatus(status).phrase
        code = CODES.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
        return error_response(status, code, str(message), None, headers)


def _retry_after(error: RateLimitExceeded) -> int:
    try:
        # request_args exists at run time (the limit's key parts) but Flask-Limiter's types do not declare it.
        parts = getattr(error.limit, "request_args", ())
        reset_at, _ = limiter.limiter.get_window_stats(error.limit.limit, *parts)[:2]
        return max(1, int(reset_at - time.time()) + 1)
    except Exception:  # the window could not be read (storage fell over): a conservative guess
        return int(error.limit.limit.get_expiry())


class OneKeyJWTManager(JWTManager):
    """Verifies a token with one parse. Flask-JWT-Extended parses it twice unverified before verifying it, to hand a
    key-choosing callback its header and claims, and PyJWT checks every character of every segment in Python on each
    parse: a tenth of a signed-in write's CPU. This community signs with one key (JWT_SECRET_KEY) and registers no
    such callback, so the verifying parse alone is made; with a callback registered, the library's own path runs."""

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if self._decode_key_callback is not default_decode_key_callback:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        claims = {
            "algorithms": jwt_config.decode_algorithms,
            "audience": jwt_config.decode_audience,
            "csrf_value": csrf_value,
            "encoded_token": encoded_token,
            "identity_claim_key": jwt_config.identity_claim_key,
            "issuer": jwt_config.decode_issuer,
            "leeway": jwt_config.leeway,
            "secret": jwt_config.decode_key,
            "verify_aud": jwt_config.decode_audience is not None,
            "verify_sub": jwt_config.verify_sub,
        }
        try:
            return _decode_jwt(**claims, allow_expired=allow_expired)
        except pyjwt.ExpiredSignatureError as expired:
            # What the library's handler hands the expired-token callback, as its own path does.
            expired.jwt_header = pyjwt.get_unverified_header(encoded_token)  # type: ignore[attr-defined]
            expired.jwt_data = _decode_jwt(**claims, allow_expired=True)  # type: ignore[attr-defined]
            raise


api = CommunityApi()
jwt = OneKeyJWTManager()
limiter = Limiter(key_func=_client_key)
migrate = Migrate()
