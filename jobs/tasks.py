"""Celery tasks: one event's reactions, one fan-out batch, one periodic job."""

import logging
from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app
from kombu.exceptions import KombuError

from jobs import registry
from kernel import fanout, outbox
from kernel.unit_of_work import transaction

log = logging.getLogger(__name__)


def enqueue_events(event_ids: list[int]) -> None:
    """After a commit: one task per event. A broker outage must not fail the request that already committed; the
    sweep hands those events over once the broker is back."""
    try:
        for event_id in event_ids:
            process_event.delay(event_id)
    except (KombuError, OSError):
        log.warning("broker unreachable: %d event(s) left for the sweep", len(event_ids))


def enqueue_batch(name: str, context: dict[str, Any], member_ids: list[int]) -> None:
    run_batch.delay(name, context, member_ids)


@shared_task(name="events.process", bind=True, acks_late=True)
def process_event(self: Any, event_id: int) -> str:
    """Run an event's reactions. Failed handlers are retried with exponential backoff and full jitter (handlers
    that succeeded are not run again); after the last try the failures are recorded for admins."""
    outcome = outbox.process_event(event_id)
    outbox.dispatch(outbox.take_pending())  # events the handlers emitted
    if not outcome.failures:
        return "done"
    cfg = current_app.config
    attempts = self.request.retries + 1
    if attempts > cfg["EVENT_MAX_RETRIES"]:
        outbox.record_failures(event_id, outcome.failures, attempts)
        return "failed"
    countdown = get_exponential_backoff_interval(
        cfg["EVENT_RETRY_BASE_SECONDS"], self.request.retries, cfg["EVENT_RETRY_MAX_SECONDS"], full_jitter=True
    )
    raise self.retry(countdown=countdown, max_retries=cfg["EVENT_MAX_RETRIES"])


@shared_task(
    name="events.fanout",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def run_batch(name: str, context: dict[str, Any], member_ids: list[int]) -> int:
    """One batch of a fan-out, as one unit of work; a batch delivered twice notifies nobody twice."""
    with transaction():
        fanout.run_batch(name, context, member_ids)
    return len(member_ids)


@shared_task(name="jobs.run", acks_late=True)
def run_job(name: str) -> str:
    result = registry.run(name)
    summary = "skipped: another run holds the lock" if result is None else result.summary
    log.info("job %s: %s", name, summary)
    return summary
