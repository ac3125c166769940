"""Fake external services on 127.0.0.1, each a small HTTP server that answers as the real one would.

`LocalServer` holds the plumbing (a threaded server on a free port, the request as a plain record, JSON answers);
each fake only says how it answers.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, Any]  # status, and a JSON-able body (or raw bytes)


class LocalServer:
    server: ThreadingHTTPServer | None = None

    def answer(self, request: Request) -> Answer:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=url.path,
                    query={k: v[0] for k, v in parse_qs(url.query).items()},
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                status, body = fake.answer(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class FakeWeChat(LocalServer):
    """api.weixin.qq.com's jscode2session, answering from a table of codes."""

    answers: dict[str, tuple[int, object]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)

    def answer(self, request: Request) -> Answer:
        self.requests.append({"path": request.path, **request.query})
        if request.path != "/sns/jscode2session":
            return 404, {"errcode": 404}
        if request.query.get("appid") != "wx-test-app" or request.query.get("secret") != "wx-test-secret":
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        return self.answers.get(request.query.get("js_code", ""), (200, {"errcode": 40029}))


@dataclass
class FakePaymentProvider(LocalServer):
    """The payment provider's refund API: checks our signature, records refunds, answers an id."""

    secret: str = ""
    refunds: list[dict] = field(default_factory=list)
    fail: bool = False

    def answer(self, request: Request) -> Answer:
        from c2b.payments import sign

        header = request.headers.get("X-Payment-Signature", "")
        timestamp = int(dict(part.split("=", 1) for part in header.split(","))["t"])
        ok = request.path == "/refunds" and sign(self.secret, timestamp, request.body) == header and not self.fail
        if not ok:
            return 500, {"error": "no"}
        self.refunds.append(json.loads(request.body))
        return 200, {"refund_id": f"rf-{len(self.refunds)}"}
