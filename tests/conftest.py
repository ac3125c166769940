"""Test harness: one app per run, schema built by the Alembic migrations, every table emptied between tests.

The same suite runs on SQLite + SQLite store (no DATABASE_URL) and on PostgreSQL + Redis (DATABASE_URL and
REDIS_URL set by `make test`).
"""

import io
import json
import logging
import os
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from api import create_app
from api.extensions import limiter
from api.logs import formatter
from forum import feed_cache
from kernel import clock
from kernel.db import db
from kernel.store import current_store
from tests.fakes import rsa_key_pair
from tests.support import Forum, Members, TcpProxy

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgresql")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL for real concurrency")


def _reset_postgres_schema(app) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def redis_proxy():
    """With REDIS_URL set, the app reaches Redis through a proxy the fault tests can cut."""
    url = os.environ.get("REDIS_URL")
    if not url:
        yield None
        return
    parsed = urlparse(url)
    proxy = TcpProxy((parsed.hostname or "127.0.0.1", parsed.port or 6379))
    yield proxy, f"redis://127.0.0.1:{proxy.port}{parsed.path or '/0'}"
    proxy.close()


def _wechatpay_settings() -> dict:
    """WeChat Pay configured with throwaway keys and no server behind it: notifications meet their real checks
    (tests/api/test_wechatpay_payments.py points it at a fake WeChat Pay)."""
    _, private, public = rsa_key_pair()
    return {
        "WECHATPAY_API_BASE": "http://127.0.0.1:9",
        "WECHATPAY_MCHID": "1900000001",
        "WECHATPAY_APPID": "wx-test-app",
        "WECHATPAY_CERT_SERIAL": "TEST-SERIAL",
        "WECHATPAY_PRIVATE_KEY": private,
        "WECHATPAY_APIV3_KEY": "0" * 32,
        "WECHATPAY_PUBLIC_KEY": public,
        "WECHATPAY_PUBLIC_KEY_ID": "TEST-PUB",
        "WECHATPAY_NOTIFY_URL": "http://127.0.0.1/api/v1/payments/wechatpay/notify",
    }


@pytest.fixture(scope="session")
def app(tmp_path_factory, redis_proxy):
    overrides = {
        "TESTING": True,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_KIB": 64,
        "STORE_PREFIX": f"test-{uuid.uuid4().hex[:8]}:",
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        "DATA_EXPORT_ROOT": str(tmp_path_factory.mktemp("exports")),
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # nothing answers there; tests that need WeChat start a fake
        "WECHAT_APPID": "wx-test-app",
        "WECHAT_SECRET": "wx-test-secret",
        "WECHAT_TIMEOUT": 2,
        "WECHAT_PUSH_TOKEN": "test-push-token",
        "PAYMENT_WEBHOOK_SECRET": "test-webhook-secret",
        **_wechatpay_settings(),
        "REGISTER_RATE_LIMIT": "1000 per minute",
        # Forum tests publish straight away; moderation tests switch these rules on where they test them.
        "NEW_MEMBER_REVIEW_POSTS": 0,
        "ACTION_LIMITS_ENABLED": False,
        "FEED_CACHE_SECONDS": 0,  # feeds read fresh in tests; test_feed_cache turns it on
        "COMMUNITY_LOCALE": "en",  # tests read English messages; test_i18n checks the Chinese default
        "LOG_LEVEL": "WARNING",  # the access lines of thousands of test requests say nothing; test_logs turns it up
        "EVENTS_INLINE": True,  # reactions right after each request; tests/jobs run a real Celery worker
    }
    if redis_proxy is not None:
        overrides["REDIS_URL"] = redis_proxy[1]
    overrides["STORE_PATH"] = str(tmp_path_factory.mktemp("store") / "store.db")
    if not ON_POSTGRES:
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    app = create_app(overrides)
    if ON_POSTGRES:
        _reset_postgres_schema(app)
    with app.app_context():
        upgrade()
        app.extensions["reference_rows"] = _snapshot_reference_rows()
    yield app
    with app.app_context():
        db.engine.dispose()


def _snapshot_reference_rows() -> dict[str, list[dict]]:
    """Rows the migrations themselves insert (system accounts, default rules, tasks): restored after each test."""
    rows = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            found = [dict(r._mapping) for r in conn.execute(table.select())]
            if found:
                rows[table.name] = found
    return rows


def _restore_reference_rows(conn, rows: dict[str, list[dict]]) -> None:
    for table in db.metadata.sorted_tables:
        if table.name in rows:
            conn.execute(table.insert(), rows[table.name])
            if ON_POSTGRES and "id" in table.c:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )


@pytest.fixture(autouse=True)
def _clean(app):
    yield
    clock.set_now(None)
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if ON_POSTGRES:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))
            _restore_reference_rows(conn, app.extensions["reference_rows"])
        current_store().flush()
        feed_cache.forget_generation()  # as a worker would, after the flush, once its hold of the generation ran out
        # The catalogues' copies (rules, tasks…) describe rows just truncated, and a copy checked within the last
        # second is served without a look at the store: the next test starts without any, as a new worker would.
        app.extensions.pop("catalogues", None)
        limiter.reset()


@pytest.fixture()
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def members(app, client):
    return Members(app, client)


@pytest.fixture()
def forum(client, members):
    return Forum(client, members)


@pytest.fixture()
def frozen_clock():
    """Freeze time at a known instant; tests move it with kernel.clock.advance()."""
    from datetime import UTC, datetime

    start = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    clock.set_now(start)
    yield start
    clock.set_now(None)


@pytest.fixture()
def wechatpay(app, settings):
    """WeChat Pay configured against a fake on 127.0.0.1 with a fresh merchant key."""
    from tests.fakes import FakeWeChatPay, rsa_key_pair

    _, private, public = rsa_key_pair()
    fake = FakeWeChatPay(merchant_public_pem=public).start()
    settings(
        WECHATPAY_API_BASE=fake.base_url,
        WECHATPAY_MCHID=fake.mchid,
        WECHATPAY_APPID="wx-test-app",
        WECHATPAY_CERT_SERIAL="MERCHANT-SERIAL-1",
        WECHATPAY_PRIVATE_KEY=private,
        WECHATPAY_APIV3_KEY=fake.apiv3_key,
        WECHATPAY_PUBLIC_KEY=fake.public_pem,
        WECHATPAY_PUBLIC_KEY_ID=fake.public_key_id,
        WECHATPAY_NOTIFY_URL="https://community.example.com/api/v1/payments/wechatpay/notify",
    )
    app.extensions.pop("wechatpay", None)
    yield fake
    app.extensions.pop("wechatpay", None)
    fake.stop()


__all__ = ["ON_POSTGRES", "postgres_only", "timedelta"]


@pytest.fixture()
def png_bytes():
    def make(size=(40, 30), color=(200, 30, 30)) -> "io.BytesIO":
        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", size, color).save(buffer, "PNG")
        buffer.seek(0)
        return buffer

    return make


@pytest.fixture()
def settings(app):
    """Change app settings for one test; they are put back afterwards."""
    saved = {}

    def apply(**changes):
        for key, value in changes.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield apply
    app.config.update(saved)


@pytest.fixture()
def make_app(app):
    """A second app with changed settings; its engine is disposed so no connection outlives the test."""
    made = []

    def make(**overrides):
        fresh = create_app({**app.config, **overrides})
        made.append(fresh)
        return fresh

    yield make
    for fresh in made:
        with fresh.app_context():
            db.engine.dispose()


@pytest.fixture()
def set_level(app):
    def apply(member_id: int, level: int) -> None:
        from forum.members import User

        with app.app_context():
            db.session.get(User, member_id).level = level
            db.session.commit()

    return apply


@pytest.fixture()
def log_lines():
    """The JSON lines logged during a test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(previous)
