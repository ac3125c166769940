"""The unit of work: commit through the outbox on success, roll back on any error, nested uses join the outer one."""

import uuid

import flask
import pytest
from sqlalchemy import select

from api.blueprint import Blueprint
from kernel import outbox
from kernel.db import db
from kernel.errors import Conflict
from kernel.outbox import Event
from kernel.unit_of_work import transaction, transactional
from tests.unit.test_outbox import TEST_COUNTED, applied


def _events(key: str) -> list[Event]:
    return db.session.scalars(select(Event).where(Event.payload["key"].as_string() == key)).all()


def _emit(key: str) -> None:
    outbox.emit(TEST_COUNTED, payload={"key": key})


def test_success_commits_and_dispatches_the_events_written(ctx):
    key = uuid.uuid4().hex
    with transaction():
        _emit(key)
    db.session.rollback()  # nothing left in the session: what we read next is committed
    assert len(_events(key)) == 1
    assert applied[key] == 1


@pytest.mark.parametrize("error", [Conflict("no", code="x"), RuntimeError("boom")])
def test_any_error_rolls_back_everything(ctx, error):
    key = uuid.uuid4().hex
    with pytest.raises(type(error)), transaction():
        _emit(key)
        raise error
    assert _events(key) == []
    assert applied[key] == 0


def test_a_refusal_may_keep_what_was_done_before_it(ctx):
    key = uuid.uuid4().hex
    with pytest.raises(Conflict), transaction():
        _emit(key)
        raise Conflict("refused, but the revocation stays", keep_changes=True)
    db.session.rollback()
    assert len(_events(key)) == 1


def test_nested_units_join_the_outermost(ctx):
    key = uuid.uuid4().hex
    with pytest.raises(RuntimeError), transaction():
        with transaction():
            _emit(key)
        raise RuntimeError("the outer unit fails after the inner one finished")
    assert _events(key) == []


def test_an_error_answer_rolls_back(ctx, app):
    key = uuid.uuid4().hex

    @transactional
    def view():
        _emit(key)
        return app.response_class("{}", status=409)

    assert view().status_code == 409
    assert _events(key) == []


def test_every_route_is_a_unit_of_work():
    blp = Blueprint("probe", __name__)
    with pytest.raises(TypeError, match="@blp.response"):

        @blp.route("/x")
        def bare():
            return flask.jsonify({})
