"""Identifiers: positive 32-bit integers in paths and bodies, so out-of-range ids are a 404/422, never a crash."""

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: 1..2^31-1 in ASCII digits; anything else does not match the route (404).

    Werkzeug's `\\d` would also match full-width and other Unicode digits ("/posts/０１").
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def id_parameter_schema(converter: IdConverter) -> dict:
    return {"type": "integer", "minimum": converter.min, "maximum": converter.max}
