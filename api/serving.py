"""What gunicorn answers by itself (a request line or headers it cannot accept) speaks the API's JSON envelope.

Gunicorn writes those errors before the application sees the request, as HTML pages; gunicorn.conf.py installs
this writer in their place so a client always gets {"error": {"code", "message", "details"}}.
"""

import json

from gunicorn import util

CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps(
        {"error": {"code": CODES.get(status_int, "bad_request"), "message": reason.lower(), "details": {}}}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin1")
    util.write_nonblock(sock, head + body)


def install() -> None:
    util.write_error = write_json_error
