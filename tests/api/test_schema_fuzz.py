"""Property-based fuzzing of every operation in our own OpenAPI document, in process, as a member and as staff.

Checks: no server error; statuses, headers, content types and bodies as documented; undeclared methods answered
405 with `Allow`. Examples per operation are bounded so the suite stays fast.

The full check set runs, positive data acceptance and negative data rejection included. A few rules cannot be
written in JSON Schema, so the generator is told about them here, for schema-valid cases only: cursors are opaque
tokens only the server issues; some rules relate two fields (a window ends after it starts, a poll closes in the
future, a deposit is at most the price, a badge rule names both metric and threshold, question keys are unique);
some depend on stored data (your own images and badges, whose profile a tag is on); names and tags are checked
after Unicode normalisation.
"""

import base64
import re
import uuid
from datetime import datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from api import create_app
from forum.names import clean_display_name, clean_username
from forum.posts import check_tag_names
from moderation import words
from operations import tags as member_tags
from tests.fakes import FakeWeChat
from tests.support import Members

# The document is read at collection from an app with no database behind it (the spec needs none); each case is
# then sent to the test run's real app.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}))


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# A body over the route's size cap is refused with 413: a rejection like any other.
schema.config.checks.negative_data_rejection.expected_statuses.append("413")


def _when(value):
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _later(value: str, days: int = 1) -> str:
    return (_when(value) + timedelta(days=days)).isoformat()


def _valid_or(value, check, replacement):
    try:
        check(value)
        return value
    except Exception:
        return replacement


# Uploads whose validity lies in the bytes (an image, a CSV with the partner's columns): valid bytes replace them.
UPLOADS = {
    "/api/v1/media": lambda: PNG,
    "/api/v1/presales/{campaign_id}/shipments/upload": lambda: b"order_id,carrier,tracking_no\n1,SF,SF1\n",
}


def _is_upload(ctx, case) -> bool:
    return bool(ctx.operation and ctx.operation.path in UPLOADS and ctx.operation.method.upper() == "POST")


@schema.hook("filter_case")
def _negatives_that_are_negative(ctx, case) -> bool:
    """A multipart negative case can only be sent as the valid upload it was built from; it is not negative."""
    negative = case.meta is not None and case.meta.generation.mode.value == "negative"
    return not (negative and _is_upload(ctx, case) and isinstance(case.body, dict) and set(case.body) == {"file"})


def _unicode_text(value):
    """JSON text is Unicode (RFC 8259, I-JSON): no NUL, no unpaired surrogates; the API refuses both at the edge."""
    if isinstance(value, str):
        # Replaced, not dropped, so lengths and patterns still hold.
        return "".join("x" if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    if isinstance(value, list):
        return [_unicode_text(item) for item in value]
    if isinstance(value, dict):
        return {_unicode_text(key): _unicode_text(item) for key, item in value.items()}
    return value


@schema.hook("map_case")
def _rules_beyond_json_schema(ctx, case):
    """Schema-valid (positive) cases are made to respect what JSON Schema cannot say; negative cases stay as they
    are, so every rejection the document promises is still tested."""
    if case.meta is not None and case.meta.generation.mode.value != "positive":
        return case
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)  # opaque: only the server issues cursors
        case.query = _unicode_text(case.query)
        if isinstance(case.query.get("tag"), str):  # interest tags are checked after normalisation
            case.query["tag"] = _valid_or(case.query["tag"], member_tags.clean, "乐高")
    if isinstance(case.body, (dict, list)) and not _is_upload(ctx, case):
        case.body = _unicode_text(case.body)
    if isinstance(case.path_parameters, dict) and isinstance(case.path_parameters.get("tag"), str):
        case.path_parameters["tag"] = _valid_or(case.path_parameters["tag"], member_tags.clean, "乐高")
    body = case.body
    if isinstance(body, dict) and _is_upload(ctx, case):
        body["file"] = UPLOADS[ctx.operation.path]()
    elif isinstance(body, dict):
        _cross_field_rules(ctx, body)
    return case


def _cross_field_rules(ctx, body: dict) -> None:
    for start, end in (("starts_at", "ends_at"), ("opens_at", "closes_at"), ("cutoff_at", "results_at")):
        if _when(body.get(start)) and _when(body.get(end)) and _when(body[end]) <= _when(body[start]):
            body[end] = _later(body[start])
    if _when(body.get("early_access_at")) and _when(body.get("opens_at")):
        body["early_access_at"] = _later(body["opens_at"], days=-1)
    path = ctx.operation.path if ctx.operation else ""
    if path.endswith("/polls") and _when(body.get("closes_at")):
        body["closes_at"] = "2100-01-01T00:00:00+00:00"  # polls close in the future
    _presale_terms(body)
    both = ("rule_metric", "rule_threshold")
    if any(k in body for k in both) and any(body.get(k) is None for k in both):
        body["rule_metric"] = body["rule_threshold"] = None
    # Ownership: only your own badges can be shown (the test itself puts each member's own image in image_ids).
    if isinstance(body.get("badge_ids"), list):
        body["badge_ids"] = []
    if isinstance(body.get("questions"), list):  # question keys are unique
        seen = set()
        body["questions"] = [q for q in body["questions"] if not (q.get("key") in seen or seen.add(q.get("key")))]
    if body.get("kind") == "friend":  # whether a tag is a friend's depends on whose profile it is
        body["kind"] = None
    # Names and tags are checked after Unicode normalisation, which JSON Schema cannot describe.
    if isinstance(body.get("username"), str):
        body["username"] = _valid_or(body["username"], clean_username, "fuzzuser")
    if isinstance(body.get("display_name"), str):
        body["display_name"] = _valid_or(body["display_name"], clean_display_name, "Fuzz")
    if isinstance(body.get("tags"), list) and all(isinstance(t, str) for t in body["tags"]):
        if path.endswith("/tags"):  # interest tags on a member
            body["tags"] = [t for t in body["tags"] if _valid_or(t, member_tags.clean, None)]
        else:
            body["tags"] = _valid_or(body["tags"], check_tag_names, [])
    if path.endswith("/moderation/words") and isinstance(body.get("items"), list):
        body["items"] = [item for item in body["items"] if isinstance(item, dict) and words.normalise(item["word"])[0]]


def _presale_terms(body: dict) -> None:
    """A pre-sale's terms: unique SKUs, options named (samples come only from a closed poll, which a generated case
    does not have), a deposit below every price with its balance deadline a day after closing, and only then."""
    options = body.get("options")
    if not (isinstance(options, list) and "unit_price_cents" in body):
        return
    seen: set = set()
    body["options"] = options = [o for o in options if not (o.get("sku") in seen or seen.add(o.get("sku")))]
    for option in options:
        option["poll_option_id"] = None
        if not str(option.get("name", "")).strip():
            option["name"] = "option"
    prices = [o.get("price_cents") or body["unit_price_cents"] for o in options]
    deposit = body.get("deposit_cents")
    if isinstance(deposit, int) and min(prices) > 1 and _when(body.get("closes_at")):
        body["deposit_cents"] = min(deposit, min(prices) - 1)
        if not _when(body.get("balance_due_at")) or _when(body["balance_due_at"]) <= _when(
            body["closes_at"]
        ) + timedelta(days=1):
            body["balance_due_at"] = _later(body["closes_at"], days=2)
    else:
        body["deposit_cents"] = body["balance_due_at"] = None


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
    checks.positive_data_acceptance,
    checks.negative_data_rejection,
]


def _checks_for(case) -> list:
    # Upload bodies are replaced by a real image above (an upload's validity lies in its bytes), so the
    # generator's labels of valid and invalid uploads no longer hold: the upload route runs every other check.
    if case.operation.path in UPLOADS and case.operation.method.upper() == "POST":
        return [check for check in CHECKS if check is not checks.negative_data_rejection]
    return CHECKS


@pytest.fixture(scope="module", autouse=True)
def wechat(app):
    """WeChat answers (as a fake on 127.0.0.1): calls that reach it get its real refusals, never an outage."""
    fake = FakeWeChat().start()
    previous, app.config["WECHAT_API_BASE"] = app.config["WECHAT_API_BASE"], fake.base_url
    yield fake
    app.config["WECHAT_API_BASE"] = previous
    fake.stop()


@pytest.fixture()
def principals(app, client, png_bytes):
    """A member and an admin, each with one uploaded image of their own."""
    people = Members(app, client)
    found = []
    for member in (people.create("fuzzmember"), people.create("fuzzadmin", role="admin")):
        upload = client.post(
            "/api/v1/media",
            data={"file": (png_bytes(), "own.png")},
            headers=member.headers,
            content_type="multipart/form-data",
        )
        found.append((member.headers, upload.get_json()["id"]))
    return found


# Images are served straight from disk; schemathesis's WSGI transport never closes a response, so the open file is
# only closed when it is collected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@schema.parametrize()
@_fuzz_settings
def test_api_conforms_to_its_schema(case, principals, client):
    positive = case.meta is None or case.meta.generation.mode.value == "positive"
    for headers, own_image in principals:
        if positive and isinstance(case.body, dict):
            if isinstance(case.body.get("image_ids"), list):
                case.body["image_ids"] = [own_image] if case.body["image_ids"] else []
            for option in case.body.get("options") or []:
                if isinstance(option, dict) and option.get("image_id") is not None:
                    option["image_id"] = own_image
        sent = {**(case.headers or {}), **headers}
        if re.fullmatch(r"[A-Za-z0-9._:-]{8,80}", str(sent.get("Idempotency-Key", ""))):
            sent["Idempotency-Key"] = uuid.uuid4().hex  # a valid key names one request: each call, a new key
        case.call_and_validate(session=client, headers=sent, checks=_checks_for(case))
