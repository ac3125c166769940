"""The Idempotency-Key request header for mutations that move points, stock or money."""

import uuid

import marshmallow as ma
from flask import g, request
from flask_jwt_extended import current_user

from kernel import idempotency


def _key_field(*, required: bool, description: str) -> ma.fields.String:
    return ma.fields.String(
        data_key="Idempotency-Key",  # absent, not null, when not sent: headers have no null
        required=required,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9._:-]{8,80}$", error="8-80 of A-Z a-z 0-9 . _ : -"),
        metadata={"description": description},
    )


class IdempotencyHeader(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    key = _key_field(
        required=False, description="repeat a request with the same key to get the first result, changing nothing"
    )


class RequiredIdempotencyHeader(IdempotencyHeader):
    """For requests a double tap must never repeat (placing an order): the key is required."""

    key = _key_field(
        required=True, description="required: one key per order the member means to place; a retry returns it"
    )


def key_or_new(headers: dict) -> str:
    """The request's Idempotency-Key, claimed for this member and operation (a reuse with another body is 422);
    without one, a fresh key, so the request simply happens once."""
    key = headers.get("key")
    if not key:
        return f"auto-{uuid.uuid4()}"
    request_fingerprint = idempotency.fingerprint(request.method, request.path, g.get("json_body"))
    idempotency.claim(current_user.id, request.endpoint or request.path, key, request_fingerprint)
    return key
