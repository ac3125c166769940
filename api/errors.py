"""The error envelope: {"error": {"code", "message", "details"}} for every failure, documented in OpenAPI."""

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api import error_tracking, i18n
from kernel.errors import DomainError, RateLimited
from kernel.store import StoreUnavailable

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ErrorDetail(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "stable snake_case error code"})
    message = ma.fields.String(required=True)
    details = ma.fields.Dict(metadata={"description": "per-field messages or extra facts"})


class ErrorEnvelope(ma.Schema):
    error = ma.fields.Nested(ErrorDetail, required=True)


def error_response(status: int, code: str, message: str, details: dict | None = None, headers=None) -> Response:
    """The envelope, its message (and, for a 422, the per-field messages) in the reader's language."""
    details = details or {}
    if status == 422:
        details = i18n.field_messages(details)
    body = {"error": {"code": code, "message": i18n.error_message(code, message), "details": details}}
    response = jsonify(body)
    response.status_code = status
    response.headers["Content-Language"] = i18n.current_language().replace("_", "-")
    response.vary.add("Accept-Language")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_validation(messages) -> dict:
    """webargs nests messages by location ({"json": {...}, "query": {...}}); clients want fields."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    flat: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def internal_error(exc: BaseException) -> Response:
    request_id = getattr(g, "request_id", "-")
    error_tracking.report(exc)  # first: the log line's own report is then a duplicate Sentry drops
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    return error_response(500, "internal_error", "something went wrong on our side", {"request_id": request_id})


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Response:
        headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
        return error_response(error.status, error.code, error.message, error.details, headers)

    @app.errorhandler(StoreUnavailable)
    def store_down(error: StoreUnavailable) -> Response:
        # Only reached where a feature cannot degrade further; most callers fall back on their own.
        return error_response(503, "store_unavailable", "a dependency is unavailable, try again shortly")

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    @app.errorhandler(DBAPIError)
    def database_down(error: Exception) -> Response:
        # A lost connection or an unreachable server is a dependency outage (503), not our bug (500).
        if isinstance(error, DBAPIError) and not _is_outage(error):
            return internal_error(error)
        log.warning("database unavailable (request %s): %s", getattr(g, "request_id", "-"), error)
        return error_response(
            503, "service_unavailable", "the database is unavailable, try again shortly", None, {"Retry-After": "5"}
        )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # HTTPExceptions have their own, more specific handler (api.extensions.CommunityApi).
        return internal_error(error)


def _is_outage(error: DBAPIError) -> bool:
    if error.connection_invalidated or isinstance(error, OperationalError):
        return True
    return type(error.orig).__name__ in ("InterfaceError", "OperationalError")


def documented_errors(blp, *statuses: int) -> Callable:
    """Declare the error statuses an operation can answer with, all using the envelope schema."""

    def decorate(func) -> Callable[..., Any]:
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorEnvelope, description=HTTPStatus(status).phrase)(func)
        return func

    return decorate
