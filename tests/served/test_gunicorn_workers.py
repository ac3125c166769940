"""The embedded default served as `make run` serves it (`scripts/serve`): gunicorn with two worker processes and a
Celery worker running beat, SQLite for everything, no Redis.

Whatever one web worker learns (a session ended, a rate-limit window) every worker must know, what gunicorn answers
by itself is JSON too, and the job worker takes the periodic jobs and the reactions the web workers hand it.
"""

import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{root / 'community.db'}",
        STORE_PATH=str(root / "store.db"),
        MEDIA_ROOT=str(root / "media"),
        SECRET_KEY="served-secret",
        JWT_SECRET_KEY="served-jwt-secret",
        ARGON2_TIME_COST="1",
        ARGON2_MEMORY_KIB="64",
        LOGIN_RATE_LIMIT="6 per minute",
        REGISTER_RATE_LIMIT="100 per minute",
        BIND=f"127.0.0.1:{port}",
        WEB_WORKERS="2",
        FLASK_APP="wsgi",
        CELERY_BROKER_URL=f"sqla+sqlite:///{root / 'broker.db'}",
        CELERY_BEAT_SCHEDULE_FILE=str(root / "beat-schedule"),
        WORKER_LOG=str(root / "worker.log"),
        VENV=str(Path(sys.executable).parents[1]),
    )
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
    web_log = (root / "web.log").open("w")
    server = subprocess.Popen(["scripts/serve"], cwd=REPO, env=env, stdout=web_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        yield base, env, root
    finally:
        server.terminate()
        server.wait(timeout=15)
        web_log.close()


@pytest.fixture()
def served(serving) -> str:
    return serving[0]


def _wait_until_up(base: str) -> None:
    # A busy machine may take a few seconds to import the app in each worker.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/api/v1/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    pytest.fail("gunicorn did not start")


def _fresh(method: str, url: str, **kwargs) -> requests.Response:
    # A new connection each time, so consecutive requests land on either worker.
    with requests.Session() as session:
        return session.request(method, url, headers={"Connection": "close", **kwargs.pop("headers", {})}, **kwargs)


def test_a_logout_ends_the_session_on_every_worker(served):
    signed_up = _fresh("POST", f"{served}/api/v1/auth/register", json={"username": "workerfan", "password": PASSWORD})
    assert signed_up.status_code == 201
    bearer = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
    assert all(_fresh("GET", f"{served}/api/v1/me", headers=bearer).status_code == 200 for _ in range(6))
    assert _fresh("POST", f"{served}/api/v1/auth/logout", headers=bearer).status_code == 204
    answers = [_fresh("GET", f"{served}/api/v1/me", headers=bearer) for _ in range(30)]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["error"]["code"] for a in answers} == {"token_revoked"}


def _sockets_on(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 sockets whose local port is `port`, in a TCP state of /proc/net/tcp (0A listen,
    01 established)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state and fields[9] != "0":
            inodes.add(fields[9])
    return inodes


def _owners(inodes: set[str]) -> dict[int, int]:
    """How many of these sockets each process holds."""
    held: dict[int, int] = {}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            links = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:  # the process ended, or is not ours to read
            continue
        count = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
        if count:
            held[int(fd_dir.parent.name)] = count
    return held


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's socket tables (Linux)")
def test_connections_that_arrive_together_are_spread_over_the_workers(serving):
    base, env, _ = serving
    port = int(env["BIND"].rsplit(":", 1)[1])
    listeners = _owners(_sockets_on(port, "0A"))
    assert len(listeners) == 2, "each worker listens on its own socket"
    # 32 keep-alive connections opened at once (as a proxy's pool or a burst of clients opens them), then used.
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(32)]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:
            connection.request("GET", "/api/v1/health")
        assert {connection.getresponse().status for connection in connections} == {200}
        held = _owners(_sockets_on(port, "01"))
        assert set(held) == set(listeners), held
    finally:
        for connection in connections:
            connection.close()


def test_rate_limit_windows_are_shared_by_the_workers(served):
    statuses = [
        _fresh("POST", f"{served}/api/v1/auth/login", json={"username": "nobody", "password": "wrong password"})
        for _ in range(8)
    ]
    assert [s.status_code for s in statuses] == [401] * 6 + [429] * 2


def test_what_gunicorn_refuses_by_itself_is_json(served):
    too_long = _fresh("GET", f"{served}/api/v1/posts?q={'x' * 5000}")
    assert too_long.status_code == 414
    assert too_long.headers["Content-Type"] == "application/json"
    assert too_long.json()["error"]["code"] == "uri_too_long"


def test_the_job_worker_runs_beat_and_takes_jobs(serving):
    base, env, root = serving
    assert _fresh("GET", f"{base}/api/v1/health").json()["broker"] == {"ok": True, "backend": "sqla+sqlite"}
    subprocess.run(
        [
            str(Path(env["VENV"]) / "bin" / "celery"),
            "-A",
            "worker",
            "call",
            "jobs.run",
            "--args",
            '["presale-expire-orders"]',
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    log = root / "worker.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "job presale-expire-orders: expired 0 order(s)" in text:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the job worker did not run the job:\n{text[-2000:]}")
    assert "beat: Starting" in text
    # The worker logs as the web does: JSON lines.
    job_line = next(line for line in text.splitlines() if "job presale-expire-orders: expired" in line)
    assert json.loads(job_line)["level"] == "info"


def test_a_requests_reactions_reach_the_job_worker_through_the_web_workers_relay(serving):
    base, _, root = serving
    signed_up = _fresh("POST", f"{base}/api/v1/auth/register", json={"username": "relayfan", "password": PASSWORD})
    assert signed_up.status_code == 201
    bearer = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
    checked_in = _fresh("POST", f"{base}/api/v1/me/checkin", headers=bearer)
    assert checked_in.status_code == 201, checked_in.json()

    def unprocessed() -> int:
        with sqlite3.connect(root / "community.db") as db:
            return db.execute("SELECT count(*) FROM events WHERE processed_at IS NULL").fetchone()[0]

    # Well inside the sweep's grace (60 s), so what delivers them is the relay of the forked web worker.
    deadline = time.monotonic() + 30
    while unprocessed() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = (root / "worker.log").read_text()
    assert unprocessed() == 0, log[-2000:]
    assert "events.process_many" in log


def test_every_line_the_server_writes_is_json(serving):
    base, _, root = serving
    assert _fresh("GET", f"{base}/api/v1/health").status_code == 200
    lines = [line for line in (root / "web.log").read_text().splitlines() if line.strip()]
    not_json = []
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not not_json, not_json[:5]
    records = [json.loads(line) for line in lines]  # gunicorn's own lines included
    access = [r for r in records if r.get("logger") == "api.access"]
    assert access and all(r["request_id"] for r in access)
    assert any(r.get("logger") == "gunicorn.error" for r in records)
