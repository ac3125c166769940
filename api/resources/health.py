"""Liveness and dependency status."""

import marshmallow as ma
from flask import current_app
from sqlalchemy import text

from api.blueprint import Blueprint
from api.schemas import DependencyStatus
from jobs.celery import broker_status
from kernel import outbox
from kernel.db import db
from kernel.store import StoreUnavailable, current_store

# Load balancers poll this every few seconds; a broker answer this recent is reused rather than reconnecting.
BROKER_CHECK_SECONDS = 5.0

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="Service health")


class Health(ma.Schema):
    status = ma.fields.String(
        required=True, metadata={"description": "ok; degraded when the store is down; down when the database is"}
    )
    database = ma.fields.Nested(DependencyStatus, required=True)
    store = ma.fields.Nested(DependencyStatus, required=True)
    broker = ma.fields.Nested(
        DependencyStatus,
        required=True,
        metadata={"description": "where reactions and jobs are queued; degraded while it is down and workers run them"},
    )


def _database_ok() -> bool:
    """One round trip, in autocommit: no BEGIN, and no ROLLBACK after it (psycopg answers a rollback by forgetting
    the connection's prepared statements and sending DEALLOCATE ALL: polled every few seconds, the check would keep
    wiping those of the hot paths from the pool's connections)."""
    try:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"}).execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        db.session.rollback()  # hands the connection back (nothing is open on it)


def _store_ok() -> bool:
    try:
        return current_store().ping()
    except StoreUnavailable:
        return False


@blp.route("/health", methods=["GET"])
@blp.response(200, Health)
@blp.alt_response(503, schema=Health, description="the database is unreachable")
def health() -> tuple[dict, int]:
    """Database, store and broker status: 200 while the database answers (the others may be degraded), else 503."""
    celery = current_app.extensions["celery"]
    database, store, broker = _database_ok(), _store_ok(), broker_status(celery, max_age=BROKER_CHECK_SECONDS)
    healthy = store and (broker["ok"] or outbox.inline())
    body = {
        "status": "ok" if database and healthy else ("degraded" if database else "down"),
        "database": {"ok": database, "backend": db.engine.dialect.name},
        "store": {"ok": store, "backend": current_store().backend},
        "broker": broker,
    }
    return body, (200 if database else 503)
