"""Keyset pagination with opaque cursors: stable under inserts, constant cost at any depth."""

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Integer, Select, bindparam, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from kernel.db import db
from kernel.errors import BadRequest
from kernel.sql import column_rows

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
    columns: bool = False,
    params: dict[str, Any] | None = None,
    built_once: bool = False,
) -> Page:
    """Page through `query` ordered by `keys`, all in one direction (the last key must be unique, e.g. the id).
    Items are the first entity of each row (`scalars`), else the rows; `columns` says the query selects no entity:
    its rows are the items, straight from the connection (kernel.sql.column_rows). `params` fill the query's own bind
    parameters; a query `built_once` (a feed's shape, its values all parameters) is paged by the same statement every
    time."""
    keys = tuple(keys)
    values: dict[str, Any] = {**(params or {}), "page_limit": limit + 1}
    if cursor:
        values.update(zip(_after_names(len(keys)), decode_cursor(cursor, len(keys)), strict=True))
    # Only a query built once recurs: keeping one built per request would only churn the cache.
    paged = (_paged if built_once else _paged.__wrapped__)(query, keys, descending, bool(cursor))
    # .all(): the rows in one fetch from the cursor, where iterating fetches them one by one.
    if columns:
        rows = list(column_rows(paged, values).all())
    else:
        result = db.session.execute(paged, values)
        rows = list(result.scalars().all() if scalars else result.all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return Page(rows, next_cursor)


def _after_names(width: int) -> list[str]:
    return [f"after_{n}" for n in range(width)]


@lru_cache(maxsize=256)
def _paged(query: Select, keys: tuple[InstrumentedAttribute[Any], ...], descending: bool, after: bool) -> Select:
    """The page statement of a query, its cursor and size as parameters. Kept per query object for queries built once
    (a feed's shape): their statement is compiled once and its rows need no matching to a fresh statement's columns on
    each page."""
    if after:
        bound = tuple_(
            *(bindparam(name, type_=key.type) for name, key in zip(_after_names(len(keys)), keys, strict=True))
        )
        query = query.where(tuple_(*keys) < bound if descending else tuple_(*keys) > bound)
    order = [key.desc() if descending else key.asc() for key in keys]
    # The size is written into the SQL (a handful of distinct texts): with LIMIT as a parameter PostgreSQL plans every
    # execution afresh, with the number it settles on one plan for the prepared statement.
    return query.order_by(*order).limit(bindparam("page_limit", type_=Integer, literal_execute=True))
