"""Error tracking with Sentry when SENTRY_DSN is set: unhandled errors (the 500s) and failed jobs, with the request
id; no personal data (no IP addresses, cookies or bodies)."""

from typing import Any

import sentry_sdk
from flask import Flask, g
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.types import Event


def init_error_tracking(app: Flask) -> bool:
    dsn = app.config["SENTRY_DSN"]
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration(), CeleryIntegration()],  # the workers' failed jobs too
        environment=app.config["SENTRY_ENVIRONMENT"],
        traces_sample_rate=0.0,
        include_local_variables=False,  # a frame's locals can hold a member's data
        before_send=_without_personal_data,
    )
    return True


def _without_personal_data(event: Event, hint: dict[str, Any]) -> Event:
    """Keep what locates the failure (method and route), never who sent it or what they sent."""
    request = event.get("request") or {}
    event["request"] = {key: request[key] for key in ("method", "url") if key in request}
    event.pop("user", None)
    return event


def report(exc: BaseException) -> None:
    """Send one unhandled error, tagged with its request id (a no-op without SENTRY_DSN)."""
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("request_id", g.get("request_id", "-"))
        sentry_sdk.capture_exception(exc)
