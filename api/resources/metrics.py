"""Prometheus metrics for the operator's scraper (not public: it presents METRICS_TOKEN)."""

import hmac

from flask import Response, current_app, request

from api.blueprint import Blueprint
from api.errors import documented_errors
from api.metrics import exposition
from kernel.errors import NotFound, Unauthenticated

blp = Blueprint("metrics", __name__, url_prefix="/api/v1", description="Service health")


@blp.route("/metrics", methods=["GET"])
@blp.response(200, schema={"type": "string"}, content_type="text/plain", description="Prometheus text format")
@documented_errors(blp, 401, 404)
def metrics() -> Response:
    """Request latency per route, the event backlog, points issued and spent. Send `Authorization: Bearer
    <METRICS_TOKEN>`; without METRICS_TOKEN configured the route does not exist."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        raise NotFound("no such route", code="not_found")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthenticated("the scraper's token is wrong", code="invalid_token")
    return Response(exposition(), mimetype="text/plain; version=0.0.4; charset=utf-8")
