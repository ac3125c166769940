"""Reactions and jobs on a real Celery worker (Redis broker, PostgreSQL), started in this process.

A request commits and returns; its reactions arrive afterwards from the worker. Failing handlers are retried with
backoff and apply once; a lost message is recovered by the sweep; failures that outlast every retry are recorded
for admins; fan-outs go out in batches.
"""

import os
import threading
import time
import uuid
from collections import Counter

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_success
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select

from c2b import ideas
from economy import ledger
from economy.ledger import LedgerTransaction
from forum.members import User
from forum.notifications import Notification
from kernel import clock, outbox
from kernel.db import db
from kernel.events import declare
from kernel.outbox import Event, EventFailure, EventHandling
from tests.conftest import postgres_only

pytestmark = [postgres_only, pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis broker")]

FLAKY_AWARD = declare(
    "test_flaky_award", fields=("user_id",), about="awards 5 points after failing a set number of times"
)
failures_left: Counter = Counter()


@outbox.subscribe(FLAKY_AWARD, name="tests.flaky_award")
def _flaky_award(event: Event) -> None:
    if failures_left[event.id] > 0:
        failures_left[event.id] -= 1
        raise RuntimeError("the payment of points fell over")
    ledger.credit(
        event.payload["user_id"], points=5, contribution=0, source=ledger.Source.RULE, key=f"flaky:{event.id}"
    )


@pytest.fixture()
def worker_app(make_app):
    broker = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/14"  # straight to Redis, not through the fault proxy
    app = make_app(
        EVENTS_INLINE=False,
        CELERY_BROKER_URL=broker,
        EVENT_RETRY_BASE_SECONDS=0,
        EVENT_RETRY_MAX_SECONDS=1,
        EVENT_MAX_RETRIES=3,
        EVENT_SWEEP_GRACE_SECONDS=0,
    )
    app.extensions["celery"].conf.task_default_queue = f"test-{uuid.uuid4().hex[:8]}"
    return app


@pytest.fixture()
def worker(worker_app):
    with start_worker(worker_app.extensions["celery"], perform_ping_check=False, shutdown_timeout=30):
        yield


def _wait(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not finish in time")


def _statements(app, call) -> tuple[object, int]:
    seen = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(1)  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    try:
        return call(), len(seen)
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)


def _unprocessed(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event).where(Event.processed_at.is_(None)))


def test_a_check_in_does_its_own_transaction_and_its_reactions_arrive_from_the_worker(app, worker_app, members):
    member = members.create("workercheckin")
    inline_member = members.create("inlinecheckin")
    client = worker_app.test_client()
    response, statements = _statements(worker_app, lambda: client.post("/api/v1/me/checkin", headers=member.headers))
    assert response.status_code == 201
    _, inline_statements = _statements(
        app, lambda: app.test_client().post("/api/v1/me/checkin", headers=inline_member.headers)
    )
    # The request stops at its own transaction (the check-in and its points: 13 statements today); inline, the
    # same request also runs the activity counters, tasks, badge rules and levels (30).
    assert statements <= 15 and inline_statements - statements >= 12, (statements, inline_statements)
    with worker_app.app_context():
        checked_in = db.session.scalars(
            select(Event.id).where(Event.type == "checked_in", Event.actor_id == member.id)
        ).one()
        assert db.session.get(Event, checked_in).processed_at is None  # returned before any reaction ran
    with start_worker(worker_app.extensions["celery"], perform_ping_check=False, shutdown_timeout=30):
        _wait(lambda: _unprocessed(worker_app) == 0)
    with worker_app.app_context():
        handled = set(db.session.scalars(select(EventHandling.handler).where(EventHandling.event_id == checked_in)))
        assert {"economy.activity", "economy.badges.streak"} <= handled


def test_a_handler_that_fails_twice_is_retried_and_awards_once(worker_app, worker, members):
    member = members.create("flakyworker")
    with worker_app.app_context():
        event_id = outbox.emit(FLAKY_AWARD, payload={"user_id": member.id})
        failures_left[event_id] = 2
        outbox.commit()
    _wait(lambda: _unprocessed(worker_app) == 0)
    with worker_app.app_context():
        assert failures_left[event_id] == 0  # it did fail twice
        assert ledger.member_account(member.id).balance == 5
        assert (
            db.session.scalar(select(func.count()).where(LedgerTransaction.idempotency_key == f"flaky:{event_id}")) == 1
        )
        assert db.session.scalar(select(func.count()).select_from(EventFailure)) == 0


def test_events_of_one_commit_go_in_one_message_and_a_failing_one_is_retried_alone(worker_app, members):
    member = members.create("batchedworker")
    completed: list[tuple[str, object]] = []

    def record(sender=None, result=None, **_kwargs) -> None:
        completed.append((sender.name, result))

    task_success.connect(record, weak=False)
    try:
        with worker_app.app_context():
            event_ids = [outbox.emit(FLAKY_AWARD, payload={"user_id": member.id}) for _ in range(3)]
            failures_left[event_ids[1]] = 1
            outbox.commit()
        with start_worker(worker_app.extensions["celery"], perform_ping_check=False, shutdown_timeout=30):
            _wait(lambda: _unprocessed(worker_app) == 0)
    finally:
        task_success.disconnect(record)
    # One message for the three: two completed in it; the failed one went on to events.process and completed there.
    assert completed == [("events.process_many", 2), ("events.process", "done")]
    with worker_app.app_context():
        assert ledger.member_account(member.id).balance == 15
        keys = [f"flaky:{event_id}" for event_id in event_ids]
        assert db.session.scalar(select(func.count()).where(LedgerTransaction.idempotency_key.in_(keys))) == 3


def test_a_lost_message_is_recovered_by_the_sweep_exactly_once(worker_app, worker, members):
    member = members.create("lostmessage")
    with worker_app.app_context():
        event_id = outbox.emit(FLAKY_AWARD, payload={"user_id": member.id})
        db.session.commit()
        outbox.discard_pending()  # the message never reached the broker
    time.sleep(0.5)
    assert _unprocessed(worker_app) == 1
    runner = worker_app.test_cli_runner()
    assert "handed 1 event(s)" in runner.invoke(args=["events", "sweep"]).output
    runner.invoke(args=["events", "sweep"])  # a second sweep while the first is handled changes nothing
    _wait(lambda: _unprocessed(worker_app) == 0)
    with worker_app.app_context():
        assert ledger.member_account(member.id).balance == 5
        assert (
            db.session.scalar(select(func.count()).where(LedgerTransaction.idempotency_key == f"flaky:{event_id}")) == 1
        )


def test_failures_that_outlast_every_retry_are_shown_to_admins_and_retried_by_hand(worker_app, worker, members):
    member = members.create("failsforgood")
    admin = members.create("jobsadmin", role="admin")
    with worker_app.app_context():
        event_id = outbox.emit(FLAKY_AWARD, payload={"user_id": member.id})
        failures_left[event_id] = 100
        outbox.commit()
    client = worker_app.test_client()

    def recorded() -> bool:
        with worker_app.app_context():
            return db.session.get(EventFailure, (event_id, "tests.flaky_award")) is not None

    _wait(recorded)
    status = client.get("/api/v1/ops/jobs", headers=admin.headers).get_json()
    assert status["reactions"] == "worker" and status["broker"]["ok"]
    assert status["backlog"]["failed_handlers"] == 1 and status["backlog"]["pending_events"] >= 1
    assert [(f["event_id"], f["handler"], f["attempts"]) for f in status["failed"]] == [
        (event_id, "tests.flaky_award", 4)
    ]
    assert client.get("/api/v1/ops/jobs", headers=member.headers).status_code == 403
    # The sweep leaves it alone; an admin retries it once the cause is fixed.
    assert "handed 0 event(s)" in worker_app.test_cli_runner().invoke(args=["events", "sweep"]).output
    failures_left[event_id] = 0
    assert client.post("/api/v1/ops/jobs/retry", json={"event_id": event_id}, headers=admin.headers).get_json() == {
        "retried": [event_id]
    }
    _wait(lambda: _unprocessed(worker_app) == 0)
    with worker_app.app_context():
        assert ledger.member_account(member.id).balance == 5


def test_an_update_reaches_ten_thousand_supporters_in_batches(worker_app, worker, members):
    creator = members.create("bigidea")
    with worker_app.app_context():
        now = clock.now()
        idea = ideas.Idea(
            creator_id=creator.id,
            title="万人支持的创意",
            description="x" * 30,
            category="other",
            status="supporting",
            supporter_count=0,
            verified_supporter_count=0,
            milestones_reached=0,
            trend_score=0,
            created_at=now,
            submitted_at=now,
            published_at=now,
        )
        db.session.add(idea)
        db.session.flush()
        rows = [
            {
                "username": f"fan{n}",
                "username_key": f"fan{n}",
                "username_skeleton": f"fan{n}",
                "display_name": f"fan{n}",
                "display_name_key": f"fan{n}",
                "password_hash": "x",
                "role": "member",
                "bio": "",
                "region": "",
                "level": 1,
                "created_at": now,
            }
            for n in range(10_000)
        ]
        fan_ids = db.session.scalars(insert(User).returning(User.id), rows).all()
        db.session.execute(
            insert(ideas.IdeaSupport),
            [
                {
                    "idea_id": idea.id,
                    "user_id": fan,
                    "verified": False,
                    "supporter_level": 1,
                    "created_at": now,
                }
                for fan in fan_ids
            ],
        )
        db.session.commit()
        idea_id = idea.id
    batches = []

    def count_batch(sender=None, result=None, **_kwargs):
        if sender is not None and sender.name == "events.fanout":
            batches.append(result)

    task_success.connect(count_batch, weak=False)
    sent = worker_app.test_client().post(
        f"/api/v1/ideas/{idea_id}/updates",
        json={"title": "样品出来了", "body": "第一版样品已经到货"},
        headers=creator.headers,
    )
    assert sent.status_code == 201, sent.get_json()

    def everyone_told() -> bool:
        with worker_app.app_context():
            return (
                db.session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "idea"))
                == 10_000
            )

    try:
        _wait(everyone_told, seconds=240)
    finally:
        task_success.disconnect(count_batch)
    assert sorted(batches) == [500] * 20  # twenty tasks of 500, not one handler for 10,000


def test_two_runs_of_one_job_never_overlap(worker_app, monkeypatch):
    from jobs import registry

    started, release = threading.Event(), threading.Event()
    runs = []

    def slow() -> registry.Result:
        runs.append(1)
        started.set()
        release.wait(10)
        return registry.Result("done")

    monkeypatch.setitem(registry.BY_NAME, "test-slow", registry.Job("test-slow", "test", "slow", "", slow, None, 60))
    outcomes = []

    def tick():
        with worker_app.app_context():
            outcomes.append(registry.run("test-slow"))

    first = threading.Thread(target=tick)
    first.start()
    started.wait(10)
    tick()  # a second beat tick while the first run is still going
    release.set()
    first.join(10)
    assert len(runs) == 1 and outcomes.count(None) == 1
    tick()  # once the first run ends, the next tick runs again
    assert len(runs) == 2


def _rabbitmq_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbitmq_reachable(), reason="RabbitMQ is not running on 127.0.0.1:5672")
def test_rabbitmq_works_by_url(make_app, members):
    member = members.create("rabbitfan")
    app = make_app(EVENTS_INLINE=False, CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    celery = app.extensions["celery"]
    celery.conf.task_default_queue = f"test-{uuid.uuid4().hex[:8]}"
    with start_worker(celery, perform_ping_check=False, shutdown_timeout=30):
        with app.app_context():
            outbox.emit(FLAKY_AWARD, payload={"user_id": member.id})
            outbox.commit()
        _wait(lambda: _unprocessed(app) == 0)
    with app.app_context():
        assert ledger.member_account(member.id).balance == 5
