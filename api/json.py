"""Responses encoded with orjson: every request writes JSON, and orjson writes it several times faster than the
standard library. Non-ASCII text stays readable (as ensure_ascii=False); types orjson does not know (Decimal,
objects with __html__) fall back to Flask's own conversions, and what orjson cannot write at all (an integer past
64 bits echoed back in an error) goes through the standard encoder. Request bodies are still parsed by the
standard library, whose errors the edge already turns into the API's answers."""

from typing import Any

import orjson
from flask import Response, current_app
from flask.json.provider import DefaultJSONProvider

OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False

    def encode(self, obj: Any) -> bytes:
        """The JSON as bytes, ready to send or keep."""
        try:
            return orjson.dumps(obj, default=self.default, option=OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().dumps(obj).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # a caller asking for options (indent, sort_keys…) gets the standard encoder
            return super().dumps(obj, **kwargs)
        return self.encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return Response(self.encode(self._prepare_response_obj(args, kwargs)), mimetype=self.mimetype)


def encoded(obj: Any) -> bytes:
    """The JSON of obj as the application writes it, as bytes (to send or to keep)."""
    provider = current_app.json
    assert isinstance(provider, OrjsonProvider)
    return provider.encode(obj)
