"""Property-based fuzzing of every operation in our own OpenAPI document, in process, as a member and as staff.

Checks: no server error, every response's status is documented and its body matches the documented schema.
Examples per operation are bounded so the suite stays fast.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import create_app
from tests.support import Members

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


# The document is read at collection from an app with no database behind it (the spec needs none); each case is
# then sent to the test run's real app.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}))


@pytest.fixture()
def tokens(app, client):
    people = Members(app, client)
    return {"member": people.create("fuzzmember").headers, "admin": people.create("fuzzadmin", role="admin").headers}


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_api_conforms_to_its_schema(case, tokens, client):
    for headers in (tokens["member"], tokens["admin"]):
        case.call_and_validate(session=client, headers={**(case.headers or {}), **headers}, checks=CHECKS)
