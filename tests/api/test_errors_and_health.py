import re

import psycopg
from sqlalchemy import text

from kernel.db import db
from tests.conftest import postgres_only


def _assert_envelope(response, status: int, code: str | None = None):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_unknown_route_and_wrong_method_use_the_envelope(client):
    _assert_envelope(client.get("/api/v1/no-such-thing"), 404, "not_found")
    _assert_envelope(client.delete("/api/v1/health"), 405, "method_not_allowed")


def test_malformed_json_is_400_and_other_media_types_415(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    _assert_envelope(response, 400, "malformed_json")
    response = client.post("/api/v1/auth/login", data="username=a&password=b")
    _assert_envelope(response, 415, "unsupported_media_type")


def test_non_object_json_is_a_validation_error(client):
    error = _assert_envelope(client.post("/api/v1/auth/login", json=["a", "b"]), 422, "validation_failed")
    assert error["details"]


def test_unexpected_errors_are_500_envelopes_with_a_request_id_and_no_internals(make_app, caplog):
    fresh = make_app()

    @fresh.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = fresh.test_client().get("/boom", headers={"X-Request-ID": "req-12345678"})
    error = _assert_envelope(response, 500, "internal_error")
    assert error["details"]["request_id"] == "req-12345678"
    assert "secret internals" not in response.get_data(as_text=True)
    assert any("req-12345678" in r.getMessage() for r in caplog.records)


def test_health_reports_database_and_store(client):
    body = client.get("/api/v1/health").get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["store"]["ok"] is True


def test_health_is_degraded_when_redis_is_unreachable(make_app):
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["store"] == {"ok": False, "backend": "redis"}


def test_health_is_503_when_the_database_is_down(make_app):
    down = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = down.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False
    assert response.get_json()["status"] == "down"


def test_openapi_document_covers_every_route_with_error_schemas(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert "default" in op["responses"], (path, method)
            if op.get("security"):
                assert "401" in op["responses"], (path, method)
    assert client.get("/api/docs").status_code == 200


def test_every_operation_has_a_unique_operation_id(app):
    from api.extensions import api

    operations = [
        op
        for methods in api.spec.to_dict()["paths"].values()
        for method, op in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    ids = [op.get("operationId") for op in operations]
    assert all(ids) and len(set(ids)) == len(ids)
    assert "placeOrder" in ids and "listPolls" in ids  # named after the view: what generated clients call


def test_an_unexpected_error_reaches_sentry_with_its_request_id_and_no_personal_data(make_app):
    import sentry_sdk

    from tests.fakes import FakeSentry

    sentry = FakeSentry().start()
    try:
        fresh = make_app(SENTRY_DSN=sentry.dsn, SENTRY_ENVIRONMENT="test")

        @fresh.route("/boom-tracked")
        def boom():
            raise RuntimeError("tracked failure")

        answer = fresh.test_client().get(
            "/boom-tracked", headers={"X-Request-ID": "req-sentry-01", "Cookie": "session=secret-cookie"}
        )
        assert answer.status_code == 500
        sentry_sdk.flush(timeout=5)
        assert len(sentry.events) == 1
        event = sentry.events[0]
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert event["tags"]["request_id"] == "req-sentry-01" and event["environment"] == "test"
        # No cookies, headers, bodies, addresses or local variables leave the service.
        assert set(event["request"]) <= {"method", "url"} and "user" not in event
        assert not any("vars" in frame for frame in event["exception"]["values"][-1]["stacktrace"]["frames"])
    finally:
        sentry_sdk.init()  # tracking off again for the rest of the suite
        sentry.stop()


def _kill_pooled_connection(app) -> None:
    """End the server side of the connection the app's pool holds (requests one at a time use one), as a database
    restart would."""
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.rollback()
    with psycopg.connect(app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@postgres_only
def test_a_connection_that_rested_is_checked_and_replaced_before_use(make_app):
    rested = make_app(DATABASE_PING_AFTER_IDLE_SECONDS=0)
    client = rested.test_client()
    assert client.get("/api/v1/health").status_code == 200
    _kill_pooled_connection(rested)
    response = client.get("/api/v1/health")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["database"]["ok"] is True


@postgres_only
def test_a_busy_connection_is_not_pinged_and_a_dead_one_answers_503_once(make_app, monkeypatch):
    busy = make_app(DATABASE_PING_AFTER_IDLE_SECONDS=3600)
    client = busy.test_client()
    assert client.get("/api/v1/health").status_code == 200
    with busy.app_context():
        pings = []
        monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(connection) or True)
    assert client.get("/api/v1/health").status_code == 200
    assert pings == []  # used a moment ago: no extra round trip
    _kill_pooled_connection(busy)
    assert client.get("/api/v1/health").status_code == 503  # the dead connection fails its statement…
    assert client.get("/api/v1/health").status_code == 200  # …and the pool replaces it
