"""Keyset pagination with opaque cursors: stable under inserts, constant cost at any depth."""

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from kernel.db import db
from kernel.errors import BadRequest

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _encode_value(value: Any) -> list:
    if isinstance(value, datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int | float | str) or value is None:
        return ["v", value]
    raise TypeError(f"cannot put {type(value).__name__} in a cursor")


def _decode_value(item: Any) -> Any:
    kind, value = item
    if kind == "dt":
        return datetime.fromisoformat(value)
    if kind in ("v", "b"):
        return value
    raise ValueError(kind)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = [_decode_value(item) for item in json.loads(raw)]
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BadRequest("the cursor is not valid", code="invalid_cursor") from exc
    if len(values) != width:
        raise BadRequest("the cursor does not belong to this list", code="invalid_cursor")
    return values


def keyset_page(
    query: Select,
    keys: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    *,
    descending: bool = True,
    scalars: bool = True,
) -> Page:
    """Page through `query` ordered by `keys`, all in one direction (the last key must be unique, e.g. the id)."""
    if cursor:
        after = decode_cursor(cursor, len(keys))
        beyond = tuple_(*keys) < tuple_(*after) if descending else tuple_(*keys) > tuple_(*after)
        query = query.where(beyond)
    query = query.order_by(*[k.desc() if descending else k.asc() for k in keys]).limit(limit + 1)
    result = db.session.execute(query)
    rows = list(result.scalars() if scalars else result)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return Page(rows, next_cursor)
