"""Rows written or read as Core statements come back as the objects the ORM would have loaded."""

from datetime import date

from sqlalchemy import inspect

from economy.checkin import CheckIn
from forum import auth_sessions, members
from forum.members import User, signed_in_member
from kernel import clock
from kernel.db import db
from kernel.sql import insert_or_none


def _member(name: str) -> int:
    user = members.register(name, "long enough password")
    db.session.commit()
    return user.id


def test_an_inserted_row_is_a_persistent_object_with_nothing_to_flush(ctx):
    uid = _member("loadedone")
    values = {"user_id": uid, "day": date(2026, 11, 1), "streak": 3, "points": 7, "created_at": clock.now()}
    row = insert_or_none(CheckIn, values)
    assert row is not None and inspect(row).persistent and not db.session.dirty and not db.session.new
    assert (row.user_id, row.day, row.streak, row.points) == (uid, date(2026, 11, 1), 3, 7)
    assert db.session.get(CheckIn, (uid, date(2026, 11, 1))) is row  # the identity map holds it
    assert insert_or_none(CheckIn, values) is None  # the key is taken
    row.points = 0  # changed like any loaded object, and flushed with the commit
    db.session.commit()
    db.session.expunge_all()
    assert db.session.get(CheckIn, (uid, date(2026, 11, 1))).points == 0


def test_an_insert_flushes_what_it_may_refer_to_first(ctx):
    user = User(
        id=987654,
        username="pendingone",
        username_key="pendingone",
        display_name="待定",
        display_name_key="待定",
        created_at=clock.now(),
    )
    db.session.add(user)  # pending: the check-in's foreign key needs it written first, as the ORM's flush would
    values = {"user_id": 987654, "day": date(2026, 11, 2), "streak": 1, "points": 1, "created_at": clock.now()}
    row = insert_or_none(CheckIn, values)
    assert row is not None and row.user_id == 987654 and inspect(user).persistent and not db.session.new


def test_the_signed_in_member_already_held_is_left_as_it_is(ctx):
    uid = _member("loadedtwo")
    family = auth_sessions.open_session(uid, auth_sessions.new_jti()).id
    db.session.commit()
    held = db.session.get(User, uid)
    held.display_name = "改过的名字"  # not flushed yet
    assert signed_in_member(family, uid) is held and held.display_name == "改过的名字"
    db.session.rollback()
    db.session.expunge_all()
    loaded = signed_in_member(family, uid)
    assert loaded is not None and inspect(loaded).persistent and loaded.username == "loadedtwo"
    assert not db.session.dirty
    auth_sessions.revoke(family, reason="signed out")
    db.session.commit()
    assert signed_in_member(family, uid) is None


def test_an_object_is_built_before_the_orm_has_configured_its_mappers(ctx):
    """A fresh worker's first request builds the signed-in member before any query has configured the mappers."""
    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

    from kernel.sql import as_loaded

    class Base(DeclarativeBase):
        pass

    class Node(Base):
        __tablename__ = "nodes_of_a_fresh_registry"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int | None] = mapped_column(ForeignKey("nodes_of_a_fresh_registry.id"))
        parent: Mapped["Node | None"] = relationship(remote_side=[id])

    assert not inspect(Node).configured
    node = as_loaded(Node, (1, None))
    assert (node.id, node.parent_id) == (1, None) and inspect(node).persistent and not db.session.dirty
    db.session.expunge(node)
