"""The Celery app, configured from the Flask config; every task runs inside the Flask app context.

With a broker (`CELERY_BROKER_URL`: Redis or RabbitMQ by URL) and `EVENTS_INLINE` off, a request's commit hands its
new events to the relay (jobs/relay.py), which sends them to workers in batches; workers run their reactions and
beat runs every periodic job. Messages are JSON only, acknowledged late (a worker that dies mid-task leaves its
message to another), and the outbox's (event, handler) key makes a message delivered twice harmless. The embedded
default has no broker to speak of: its broker is a SQLite file (kombu's SQLAlchemy transport) used by one local
worker that runs beat, and reactions stay inline.
"""

import logging
import time
from typing import Any

from celery import Celery, Task, signals
from flask import Flask

from jobs import registry
from jobs.relay import EventRelay

log = logging.getLogger(__name__)


@signals.setup_logging.connect
def _keep_the_application_logging(**_kwargs: Any) -> None:
    """Workers and beat log as the web processes do (api/logs.py: JSON lines on stderr, configured when the Flask
    app is created): with a receiver on this signal, Celery leaves logging alone."""


def init_celery(flask_app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    cfg = flask_app.config
    celery = Celery(flask_app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=cfg["CELERY_BROKER_URL"],
        result_backend=cfg["CELERY_RESULT_BACKEND"] or None,
        task_ignore_result=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        timezone=cfg["COMMUNITY_TZ"],
        enable_utc=True,
        task_always_eager=False,
        beat_schedule={
            job.name: {"task": "jobs.run", "schedule": job.every, "args": [job.name]}
            for job in registry.JOBS
            if job.every is not None
        },
        beat_schedule_filename=cfg["CELERY_BEAT_SCHEDULE_FILE"],
    )
    celery.set_default()
    from jobs import tasks

    flask_app.extensions["celery"] = celery
    if not cfg["EVENTS_INLINE"]:
        # Bound to this Celery app (not the thread's current one): the relay's thread has none of its own.
        flask_app.extensions["event_dispatcher"] = EventRelay(celery.tasks[tasks.PROCESS_EVENTS].delay)
        flask_app.extensions["fanout_dispatcher"] = tasks.enqueue_batch
    return celery


def broker_status(celery: Celery, max_age: float = 0.0) -> dict[str, Any]:
    """One quick connection attempt; the broker being down degrades reactions (the sweep catches up later).

    With `max_age`, an answer that recent is reused: a health check polled under load must not open a broker
    connection per request."""
    checked_at, answer = getattr(celery, "community_broker_check", (None, None))
    if answer is not None and checked_at is not None and time.monotonic() - checked_at < max_age:
        return answer
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=1)
        ok = True
    except Exception:
        ok = False
    answer = {"ok": ok, "backend": str(celery.conf.broker_url).split(":", 1)[0]}
    celery.community_broker_check = (time.monotonic(), answer)
    return answer
