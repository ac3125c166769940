"""Background work for admins: the outbox backlog, handlers that failed for good, the periodic jobs."""

import marshmallow as ma
from flask import current_app

from api.auth import auth_required
from api.blueprint import Blueprint
from api.errors import documented_errors
from api.fields import BoundedList
from api.ids import MAX_ID
from api.schemas import DependencyStatus
from jobs import registry
from jobs.celery import broker_status
from kernel import outbox

blp = Blueprint("jobs", __name__, url_prefix="/api/v1", description="Background work (admins)")


class Backlog(ma.Schema):
    pending_events = ma.fields.Integer(
        required=True, metadata={"description": "events whose reactions have not all run"}
    )
    oldest_pending_seconds = ma.fields.Float(required=True, allow_none=True)
    failed_handlers = ma.fields.Integer(required=True)


class Failure(ma.Schema):
    event_id = ma.fields.Integer(required=True)
    handler = ma.fields.String(required=True)
    attempts = ma.fields.Integer(required=True)
    error = ma.fields.String(required=True)
    failed_at = ma.fields.DateTime(required=True)


class JobOut(ma.Schema):
    name = ma.fields.String(required=True)
    schedule = ma.fields.String(required=True, metadata={"description": "in the community time zone; 'by hand'"})
    about = ma.fields.String(required=True)


class JobsOut(ma.Schema):
    reactions = ma.fields.String(required=True, metadata={"description": "inline (after each commit) or worker"})
    broker = ma.fields.Nested(DependencyStatus, required=True)
    backlog = ma.fields.Nested(Backlog, required=True)
    failed = BoundedList(ma.fields.Nested(Failure), required=True)
    jobs = BoundedList(ma.fields.Nested(JobOut), required=True)


class RetryIn(ma.Schema):
    event_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={"description": "default: all"},
    )


class RetryOut(ma.Schema):
    retried = BoundedList(ma.fields.Integer(), required=True)


@blp.route("/ops/jobs", methods=["GET"])
@auth_required(blp, "admin")
@blp.response(200, JobsOut)
def jobs_status() -> dict:
    """The outbox backlog (pending events, the oldest one's age), handlers that failed after every retry, the
    broker, and every periodic job with its schedule."""
    celery = current_app.extensions["celery"]
    return {
        "reactions": "inline" if outbox.inline() else "worker",
        "broker": broker_status(celery),
        "backlog": outbox.backlog(),
        "failed": outbox.failures(),
        "jobs": [{"name": j.name, "schedule": str(j.every or "by hand"), "about": j.about} for j in registry.JOBS],
    }


@blp.route("/ops/jobs/retry", methods=["POST"])
@auth_required(blp, "admin")
@blp.arguments(RetryIn, required=False)
@blp.response(200, RetryOut)
@documented_errors(blp, 400)
def retry_failed(body: dict) -> dict:
    """Forget the recorded failures (of one event, or all) and run those events' reactions again."""
    return {"retried": outbox.retry_failed(body["event_id"])}
