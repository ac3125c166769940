"""The database handle and the declarative base every model derives from."""

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Engine, MetaData, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are reproducible on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Models derive from `Model`: Flask-SQLAlchemy's `db.Model` at run time (it binds the session and metadata), seen
# by the type checker as the declarative base it is built from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, hands back aware UTC: SQLite keeps no offset, PostgreSQL would shift it."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection with a round trip only when it comes back from the pool after `idle_seconds` of
    rest, and replace it if the database does not answer.

    A database restart or a dropped link is found on the first checkout after a quiet spell, when nothing else would
    notice it, while a busy worker's connections (used milliseconds ago) skip the round trip SQLAlchemy's
    `pool_pre_ping` would add to every request. A connection that dies while busy fails its statement instead: the
    request answers 503 and SQLAlchemy drops every connection the pool held."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _answers_after_rest(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection did not answer after resting") from exc
