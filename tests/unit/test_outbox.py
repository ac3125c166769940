import threading
import uuid
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import bindparam, select

from economy.checkin import CheckIn
from forum import members
from kernel import clock, outbox
from kernel.db import db
from kernel.events import declare
from kernel.outbox import Event, EventHandling
from tests.conftest import ON_POSTGRES, postgres_only
from tests.support import statements

TEST_COUNTED = declare("test_counted", fields=("key",), about="counts handler runs in these tests")
TEST_FLAKY = declare("test_flaky", fields=("key",), about="a handler that fails a set number of times")
TEST_WRITTEN = declare("test_written", fields=("day", "streak"), about="announces a row with its own columns")

applied: Counter = Counter()
failures = {"remaining": 0}
lock = threading.Lock()


def _key() -> str:
    return uuid.uuid4().hex


@outbox.subscribe(TEST_COUNTED, name="tests.count")
def _count(event: Event) -> None:
    with lock:
        applied[event.payload["key"]] += 1


@outbox.subscribe(TEST_FLAKY, name="tests.flaky")
def _flaky(event: Event) -> None:
    if failures["remaining"] > 0:
        failures["remaining"] -= 1
        raise RuntimeError("transient failure")
    with lock:
        applied[event.payload["key"]] += 1


def test_events_exist_only_if_the_transaction_commits(ctx):
    outbox.emit(TEST_COUNTED, payload={"key": "rolled-back"})
    db.session.rollback()
    outbox.discard_pending()
    assert db.session.scalar(select(Event).where(Event.type == "test_counted")) is None


def test_a_row_and_its_event_go_in_together_and_a_twin_writes_neither(app, ctx):
    uid = members.register("announced", "long enough password").id
    key = _key()
    values = {"user_id": uid, "day": date(2026, 11, 1), "streak": 2, "points": 5, "created_at": clock.now()}
    with statements(app, until_commit=False) as seen:
        row = outbox.insert_announced(
            CheckIn, values, TEST_COUNTED, actor_id=uid, subject=("user", uid), payload={"key": key}
        )
    assert row is not None and (row.user_id, row.streak, row.points) == (uid, 2, 5)
    assert row is db.session.get(CheckIn, (uid, date(2026, 11, 1)))  # held as a query would have loaded it
    writes = [s for s in seen if s.lstrip().upper().startswith(("INSERT", "WITH"))]
    assert len(writes) == (1 if ON_POSTGRES else 2), writes
    twin = outbox.insert_announced(CheckIn, values, TEST_COUNTED, payload={"key": key})
    assert twin is None
    outbox.commit()
    assert applied[key] == 1  # one event, handled once
    announced = db.session.scalars(select(Event).where(Event.type == "test_counted", Event.actor_id == uid)).all()
    assert [(e.subject, e.payload, e.processed_at is not None) for e in announced] == [
        (("user", uid), {"key": key}, True)
    ]


def _check_in_row(insert):
    table = CheckIn.__table__
    return (
        insert(table)
        .values({key: bindparam(key, type_=table.c[key].type) for key in ("user_id", "day", "streak", "points")})
        .values(created_at=bindparam("created_at", type_=table.c.created_at.type))
        .on_conflict_do_nothing()
        .returning(*table.columns)
    )


@postgres_only
def test_an_event_made_of_the_written_rows_columns_goes_in_with_it_and_a_twin_writes_neither(app, ctx):
    uid = members.register("written", "long enough password").id
    values = {"user_id": uid, "day": date(2026, 11, 1), "streak": 7, "points": 5, "created_at": clock.now()}
    payload = (("day", "day"), ("streak", "streak"))
    with statements(app, until_commit=False) as seen:
        row = outbox.written_and_announced(
            _check_in_row, values, TEST_WRITTEN, payload_columns=payload, actor_id=uid, subject=("user", uid)
        )
    assert row is not None and CheckIn.__table__.c.keys() == ["user_id", "day", "streak", "points", "created_at"]
    assert tuple(row) == (uid, date(2026, 11, 1), 7, 5, values["created_at"])
    assert len([s for s in seen if s.lstrip().upper().startswith(("INSERT", "WITH"))]) == 1
    assert outbox.written_and_announced(_check_in_row, values, TEST_WRITTEN, payload_columns=payload) is None
    outbox.commit()
    announced = db.session.scalars(select(Event).where(Event.type == "test_written")).all()
    assert [(e.actor_id, e.subject, e.payload) for e in announced] == [
        (uid, ("user", uid), {"day": "2026-11-01", "streak": 7})
    ]


def test_declared_fields_and_the_rows_columns_must_agree(app, ctx):
    with pytest.raises(ValueError, match="carries"):
        outbox.written_and_announced(_check_in_row, {}, TEST_WRITTEN, payload_columns=(("day", "day"),))


def test_commit_processes_inline_and_processing_twice_applies_once(ctx):
    key = _key()
    event_id = outbox.emit(TEST_COUNTED, actor_id=7, subject=("post", 3), payload={"key": key})
    outbox.commit()
    assert applied[key] == 1
    event = db.session.get_one(Event, event_id)
    assert (event.actor_id, event.subject, event.payload) == (7, ("post", 3), {"key": key})
    assert event.processed_at is not None
    outbox.process_event(event_id)
    outbox.process_events([event_id, event_id])
    assert applied[key] == 1
    handled = db.session.scalars(select(EventHandling.handler).where(EventHandling.event_id == event_id)).all()
    assert handled == ["tests.count"]


def test_failing_handler_is_retried_by_the_backlog_and_applies_once(ctx):
    failures["remaining"] = 1
    key = _key()
    event_id = outbox.emit(TEST_FLAKY, payload={"key": key})
    outbox.commit()
    assert applied[key] == 0
    assert db.session.get_one(Event, event_id).processed_at is None
    assert outbox.process_backlog() == 1
    assert outbox.process_backlog() == 0
    assert applied[key] == 1


def test_an_event_whose_message_was_lost_is_picked_up_by_the_backlog(ctx):
    key = _key()
    outbox.emit(TEST_COUNTED, payload={"key": key})
    db.session.commit()
    outbox.discard_pending()  # committed, but never handed to a worker
    assert applied[key] == 0
    outbox.process_backlog()
    assert applied[key] == 1


@postgres_only
def test_racing_processors_apply_each_handler_once(app):
    with app.app_context():
        key = _key()
        event_id = outbox.emit(TEST_COUNTED, payload={"key": key})
        db.session.commit()
        outbox.discard_pending()
    barrier = threading.Barrier(12)

    def worker():
        with app.app_context():
            barrier.wait()
            outbox.process_event(event_id)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert applied[key] == 1
    with app.app_context():
        assert db.session.get(Event, event_id).processed_at is not None


def test_a_payload_must_carry_exactly_the_declared_fields(ctx):
    with pytest.raises(ValueError, match="test_counted"):
        outbox.emit(TEST_COUNTED, payload={"key": "k", "extra": 1})
    with pytest.raises(ValueError, match="test_counted"):
        outbox.emit(TEST_COUNTED, payload={})
