"""Property-based fuzzing of every operation in our own OpenAPI document, in process, as a member and as staff.

Checks: no server error; statuses, headers, content types and bodies as documented; undeclared methods answered
405 with `Allow`. Examples per operation are bounded so the suite stays fast.

Two kinds of rule cannot be written in JSON Schema, so the generator is told about them here, and only them:
cursors are opaque tokens that only the server issues, and a few rules relate two fields (a window ends after it
starts, a poll closes in the future, a deposit is at most the price, a badge rule names both metric and threshold).
"""

from datetime import datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import create_app
from tests.support import Members

# The document is read at collection from an app with no database behind it (the spec needs none); each case is
# then sent to the test run's real app.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}))


@schema.hook("map_query")
def _no_forged_cursors(ctx, query):
    if isinstance(query, dict):
        query.pop("cursor", None)
    return query


def _when(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _later(value: str, days: int = 1) -> str:
    return (_when(value) + timedelta(days=days)).isoformat()


@schema.hook("map_body")
def _cross_field_rules(ctx, body):
    if not isinstance(body, dict):
        return body
    for start, end in (("starts_at", "ends_at"), ("opens_at", "closes_at")):
        if _when(body.get(start)) and _when(body.get(end)) and _when(body[end]) <= _when(body[start]):
            body[end] = _later(body[start])
    if _when(body.get("early_access_at")) and _when(body.get("opens_at")):
        body["early_access_at"] = _later(body["opens_at"], days=-1)
    if ctx.operation and ctx.operation.path.endswith("/polls") and _when(body.get("closes_at")):
        body["closes_at"] = "2100-01-01T00:00:00+00:00"  # polls close in the future
    if isinstance(body.get("deposit_cents"), int) and isinstance(body.get("unit_price_cents"), int):
        body["deposit_cents"] = min(body["deposit_cents"], body["unit_price_cents"])
    both = ("rule_metric", "rule_threshold")
    if any(k in body for k in both) and any(body.get(k) is None for k in both):
        body["rule_metric"] = body["rule_threshold"] = None
    return body


def _fuzz_settings(func):
    return settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )(func)


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.unsupported_method,
]


@pytest.fixture()
def tokens(app, client):
    people = Members(app, client)
    return {"member": people.create("fuzzmember").headers, "admin": people.create("fuzzadmin", role="admin").headers}


@schema.parametrize()
@_fuzz_settings
def test_api_conforms_to_its_schema(case, tokens, client):
    for headers in (tokens["member"], tokens["admin"]):
        case.call_and_validate(session=client, headers={**(case.headers or {}), **headers}, checks=CHECKS)
