"""What a request body may be, checked before any view or schema sees it.

JSON bodies are parsed once here, strictly: valid UTF-8, at most MAX_DEPTH levels, integers of at most
MAX_INT_DIGITS digits, no NaN/Infinity, and no NUL or lone surrogate in any string or key (PostgreSQL refuses NUL,
and lone surrogates cannot be encoded). Each request's body is bounded (uploads by MAX_UPLOAD_BYTES, JSON by
MAX_JSON_BYTES), so a huge list is refused before anything walks it. Query strings may not carry NUL either.
"""

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

import marshmallow as ma
from flask import g, request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from kernel.errors import BadRequest

MAX_DEPTH = 32
MAX_INT_DIGITS = 19  # enough for any 64-bit value; schemas bound the real ranges
FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest("a number in the body is too long", code="number_too_large")
    return int(text)


def _no_constant(name: str) -> NoReturn:
    raise BadRequest(f"{name} is not a JSON number", code="malformed_json")


def _check(value: Any, depth: int, path: str) -> None:
    if depth > MAX_DEPTH:
        raise BadRequest("the body is nested too deeply", code="too_deeply_nested", details={"max_depth": MAX_DEPTH})
    if isinstance(value, str):
        if FORBIDDEN_TEXT.search(value):
            _bad_text(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if FORBIDDEN_TEXT.search(key):
                _bad_text(path)
            _check(item, depth + 1, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, depth + 1, f"{path}[{index}]")


def _bad_text(path: str) -> NoReturn:
    raise BadRequest(
        "text may not contain NUL characters or unpaired surrogates",
        code="invalid_characters",
        details={"field": path or "(body)"},
    )


def parse_json_body(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError as exc:
        raise BadRequest("the body is nested too deeply", code="too_deeply_nested") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("the request body is not valid JSON", code="malformed_json") from exc
    _check(value, 0, "")
    return value


def guard_request() -> None:
    """Before every request: bound the body, refuse NUL in the query, parse and vet a JSON body."""
    if request.routing_exception is not None:
        return  # no such route or method: that answer comes first
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadRequest(
                "the query string may not contain NUL characters",
                code="invalid_characters",
                details={"field": name.replace("\x00", "")},
            )
    if is_json_request(request) and (request.content_length or request.headers.get("Transfer-Encoding")):
        g.json_body = parse_json_body(request.get_data(cache=True))


def _strict_field(field: ma.fields.Field) -> None:
    if isinstance(field, ma.fields.Integer):
        field.strict = True  # 5.5 and "5" are not integers in a JSON body
    elif isinstance(field, ma.fields.Boolean):
        field._deserialize = _only_booleans(field)  # type: ignore[method-assign]
    elif isinstance(field, ma.fields.Nested) and isinstance(field.schema, ma.Schema):
        _strict_schema(field.schema)
    elif isinstance(field, ma.fields.List):
        _strict_field(field.inner)


def _only_booleans(field: ma.fields.Boolean) -> Callable:
    def deserialize(value, attr, data, **kwargs) -> Any:
        if not isinstance(value, bool):  # 0, 1, "yes": not booleans in a JSON body
            raise field.make_error("invalid", input=value)
        return value

    return deserialize


def _strict_schema(schema: ma.Schema) -> None:
    for field in schema.fields.values():
        _strict_field(field)


class GuardedParser(FlaskParser):
    """webargs reads the body that guard_request has already parsed and vetted, with JSON's own types: query
    strings carry numbers and booleans as text, JSON bodies do not, so body schemas accept only real ones. A query
    parameter the operation does not declare is refused (422), as an unknown body field is: the document is the
    contract."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}

    def use_args(self, argmap, req=None, *, location=None, **kwargs) -> Callable:
        if location == "json":
            if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
                argmap = argmap()  # one instance per route, made strict once
            if isinstance(argmap, ma.Schema):
                _strict_schema(argmap)
        return super().use_args(argmap, req, location=location, **kwargs)

    def _raw_load_json(self, req) -> Any:
        if not is_json_request(req):
            return core.missing
        return g.json_body if "json_body" in g else core.missing
