"""Helpers shared by tests: members with tokens, headers, and a fake WeChat server."""

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class Member:
    id: int
    username: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict:
        return bearer(self.access)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Members:
    """Creates members through the public API (and roles through the service, as an admin would)."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def create(self, username: str | None = None, role: str = "member", **extra) -> Member:
        username = username or f"user{next(_counter)}"
        response = self.client.post("/api/v1/auth/register", json={"username": username, "password": PASSWORD, **extra})
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        if role != "member":
            self.set_role(body["user"]["id"], role)
            return self.login(username)
        return Member(body["user"]["id"], username, body["access_token"], body["refresh_token"])

    def login(self, username: str) -> Member:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return Member(body["user"]["id"], username, body["access_token"], body["refresh_token"])

    def set_role(self, user_id: int, role: str) -> None:
        from forum.members import User
        from kernel.db import db

        with self.app.app_context():
            db.session.get(User, user_id).role = role
            db.session.commit()


@dataclass
class FakeWeChat:
    """A stand-in for api.weixin.qq.com on 127.0.0.1: answers jscode2session from a table of codes."""

    answers: dict[str, tuple[int, object]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeWeChat":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, **query})
                if url.path != "/sns/jscode2session":
                    status, body = 404, {"errcode": 404}
                elif query.get("appid") != "wx-test-app" or query.get("secret") != "wx-test-secret":
                    status, body = 200, {"errcode": 40013, "errmsg": "invalid appid"}
                else:
                    status, body = fake.answers.get(query.get("js_code", ""), (200, {"errcode": 40029}))
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
