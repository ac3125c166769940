"""List arguments and envelopes per API.md: ?limit=1..100 (default 20), ?cursor=opaque → {items, next_cursor}."""

import marshmallow as ma

from api.fields import BoundedList

_page_schemas: dict[str, type[ma.Schema]] = {}


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=512))


def page_of(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """The {items, next_cursor} schema for one item type (one named component per type in OpenAPI)."""
    name = item_schema.__name__.removesuffix("Schema") + "Page"
    if name not in _page_schemas:
        _page_schemas[name] = type(
            name,
            (ma.Schema,),
            {
                "items": BoundedList(ma.fields.Nested(item_schema), required=True),
                "next_cursor": ma.fields.String(
                    required=True, allow_none=True, metadata={"description": "pass as ?cursor= for the next page"}
                ),
            },
        )
    return _page_schemas[name]


def page_body(page, present=lambda item: item) -> dict:
    return {"items": [present(item) for item in page.items], "next_cursor": page.next_cursor}
