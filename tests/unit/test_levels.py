"""The stored level follows the contribution score; a credit that cannot move it does not read it."""

from sqlalchemy import event, select, text

from economy import events, ledger
from economy.earning import rule_terms
from economy.ledger import Source
from economy.levels import sync_level
from forum import members
from forum.members import User
from kernel.db import db
from kernel.outbox import Event


def _member(name: str) -> int:
    user = members.register(name, "long enough password")
    db.session.commit()
    return user.id


def _credit(user_id: int, contribution: int, key: str) -> list[str]:
    """Credit and sync as an award does; the statements that read or wrote the member's level."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "users" in statement and "level" in statement:
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        credited = ledger.credit(user_id, points=1, contribution=contribution, source=Source.RULE, key=key)
        sync_level(user_id, credited.contribution or 0, moved_by=contribution)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _reached(user_id: int) -> list[int]:
    rows = db.session.scalars(select(Event).where(Event.type == events.LEVEL_REACHED.name, Event.actor_id == user_id))
    return [row.payload["level"] for row in rows]


def test_a_credit_reads_the_level_only_when_it_may_move(ctx):
    uid = _member("levelone")
    member = db.session.get(User, uid)  # loaded and held, as the signed-in member is
    assert member.level == 1 and _credit(uid, 10, "a") == []  # 10 of 50: level 1 before and after, as loaded
    db.session.commit()
    member = db.session.get(User, uid)
    assert member.level == 1 and len(_credit(uid, 45, "b")) == 2  # 55 crosses 50: read, then written
    db.session.commit()
    assert db.session.scalar(select(User.level).where(User.id == uid)) == 2 and _reached(uid) == [2]
    member = db.session.get(User, uid)
    assert member.level == 2 and _credit(uid, 5, "c") == []
    db.session.commit()
    assert db.session.scalar(select(User.level).where(User.id == uid)) == 2 and _reached(uid) == [2]


def test_a_level_that_does_not_match_the_contribution_is_read_and_mended(ctx):
    uid = _member("leveltwo")
    db.session.execute(text("UPDATE users SET level = 4 WHERE id = :u"), {"u": uid})  # set by hand, not earned
    db.session.commit()
    member = db.session.get(User, uid)
    assert member.level == 4 and len(_credit(uid, 10, "a")) == 2
    db.session.commit()
    assert db.session.scalar(select(User.level).where(User.id == uid)) == 1 and _reached(uid) == []


def test_a_member_not_loaded_has_the_level_read(ctx):
    uid = _member("levelthree")
    db.session.expunge_all()
    assert len(_credit(uid, 10, "a")) == 1  # read, found right, not written
    assert rule_terms("checked_in") is not None  # the catalogue the check-in pays from is there
