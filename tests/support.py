"""Helpers shared by tests: members with tokens, headers, forum content, signed payment notifications and the SQL
statements a block sends."""

import contextlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event

from kernel.db import db

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


class Forum:
    """Boards and posts through the public API."""

    def __init__(self, client, members: Members):
        self.client = client
        self.members = members
        self._admin: Member | None = None

    @property
    def admin(self) -> Member:
        if self._admin is None:
            self._admin = self.members.create(f"admin{next(_counter)}", role="admin")
        return self._admin

    def board(self, slug: str | None = None, **extra) -> dict:
        slug = slug or f"board-{next(_counter)}"
        response = self.client.post(
            "/api/v1/boards", json={"slug": slug, "name": slug.title(), **extra}, headers=self.admin.headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def post(self, author: Member, board_id: int, title: str = "A title", body: str = "Some body", **extra) -> dict:
        response = self.client.post(
            "/api/v1/posts",
            json={"board_id": board_id, "title": title, "body": body, **extra},
            headers=author.headers,
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def reply(self, author: Member, post_id: int, body: str = "A reply", **extra) -> dict:
        response = self.client.post(
            f"/api/v1/posts/{post_id}/replies", json={"body": body, **extra}, headers=author.headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()


def notify_payment(
    client,
    secret: str,
    *,
    order: dict,
    event_id: str,
    kind: str = "payment.succeeded",
    amount_cents: int | None = None,
    currency: str | None = None,
    at: int | None = None,
    stage: str = "first",
):
    """Send a notification signed as the provider would (`stage` balance: the second charge of a deposit order)."""
    import time

    from c2b.payments import sign

    body = json.dumps(
        {
            "event_id": event_id,
            "type": kind,
            "order_id": order["id"],
            "stage": stage,
            "amount_cents": (
                order["amount_cents" if stage == "first" else "balance_cents"] if amount_cents is None else amount_cents
            ),
            "currency": currency or order["currency"],
            "provider_ref": f"pay-{event_id}",
        }
    ).encode()
    timestamp = at if at is not None else int(time.time())
    return client.post(
        "/api/v1/payments/notify",
        data=body,
        content_type="application/json",
        headers={"X-Payment-Signature": sign(secret, timestamp, body)},
    )


class TcpProxy:
    """A loopback TCP proxy in front of Redis that tests can cut (Redis unreachable) and restore."""

    def __init__(self, upstream: tuple[str, int]):
        import socket

        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.connections: set = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
                upstream.settimeout(None)  # pooled connections sit idle between requests
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._close(sock)

    def _close(self, sock) -> None:
        import contextlib

        with self.lock:
            self.connections.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            live = list(self.connections)
        for sock in live:
            self._close(sock)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def upload_image(client, member: Member, png_bytes, size: tuple[int, int] = (40, 30)) -> int:
    """A PNG uploaded by the member (a different size is a different file): its media id."""
    response = client.post(
        "/api/v1/media",
        data={"file": (png_bytes(size=size), "i.png")},
        headers=member.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def run_concurrently(app, jobs: list[Callable], timeout: float = 120) -> list:
    """Run each job (given its own test client) in its own thread, all released at once; their results.
    Any exception in a job fails the test after every thread has finished."""
    barrier = threading.Barrier(len(jobs))
    results, errors = [], []

    def run(job):
        try:
            client = app.test_client()
            barrier.wait()
            results.append(job(client))
        except Exception as exc:  # surfaced after join
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
    return results


def link_wechat(app, member_id: int, openid: str) -> None:
    from forum.members import WeChatIdentity
    from kernel import clock
    from kernel.db import db

    with app.app_context():
        db.session.add(WeChatIdentity(user_id=member_id, openid=openid, session_key="k", updated_at=clock.now()))
        db.session.commit()


def wechatpay_notify(client, headers, body):
    return client.post("/api/v1/payments/wechatpay/notify", data=body, headers=headers, content_type="application/json")


@contextlib.contextmanager
def statements(app, *, until_commit: bool):
    """Statements sent to the database inside the block (for a write, up to its unit of work's commit)."""
    seen: list[str] = []
    done = {"committed": False}

    def record(conn, cursor, statement, parameters, context, executemany):
        if not done["committed"]:
            seen.append(statement)

    def committed(conn):
        if until_commit:
            done["committed"] = True

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "commit", committed)
