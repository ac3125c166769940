"""The Idempotency-Key request header for mutations that move points, stock or money."""

import uuid

import marshmallow as ma


class IdempotencyHeader(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=ma.validate.Regexp(r"^[A-Za-z0-9._:-]{8,80}$", error="8-80 of A-Z a-z 0-9 . _ : -"),
        metadata={"description": "repeat a request with the same key to get the first result, changing nothing"},
    )


def key_or_new(headers: dict) -> str:
    return headers.get("key") or f"auto-{uuid.uuid4()}"
