"""Celery tasks: a batch of events' reactions, one event's retries, one fan-out batch, one periodic job."""

import logging
from typing import Any

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from flask import current_app

from jobs import registry
from kernel import fanout, outbox
from kernel.unit_of_work import transaction

log = logging.getLogger(__name__)


def enqueue_batch(name: str, context: dict[str, Any], member_ids: list[int]) -> None:
    run_batch.delay(name, context, member_ids)


PROCESS_EVENTS = "events.process_many"  # what the relay (jobs/relay.py) sends: a batch of committed events


@shared_task(name=PROCESS_EVENTS, acks_late=True)
def process_events(event_ids: list[int]) -> int:
    """Run the reactions of a batch of events, one event after another (an event already processed is skipped, so a
    batch delivered twice changes nothing). An event whose handlers failed goes on alone to `events.process`, which
    retries it; this run counts as its first try. Returns how many completed."""
    completed = 0
    for event_id in event_ids:
        outcome = outbox.process_event(event_id)
        outbox.dispatch(outbox.take_pending())  # events the handlers emitted
        completed += outcome.complete
        if outcome.failures and not _recorded_after_last_try(event_id, outcome, retries=0):
            process_event.apply_async((event_id,), countdown=_backoff(0), retries=1)
    return completed


@shared_task(name="events.process", bind=True, acks_late=True)
def process_event(self: Any, event_id: int) -> str:
    """Run an event's reactions. Failed handlers are retried with exponential backoff and full jitter (handlers
    that succeeded are not run again); after the last try the failures are recorded for admins."""
    outcome = outbox.process_event(event_id)
    outbox.dispatch(outbox.take_pending())  # events the handlers emitted
    if not outcome.failures:
        return "done"
    if _recorded_after_last_try(event_id, outcome, retries=self.request.retries):
        return "failed"
    raise self.retry(countdown=_backoff(self.request.retries), max_retries=current_app.config["EVENT_MAX_RETRIES"])


def _recorded_after_last_try(event_id: int, outcome: outbox.Outcome, *, retries: int) -> bool:
    attempts = retries + 1
    if attempts <= current_app.config["EVENT_MAX_RETRIES"]:
        return False
    outbox.record_failures(event_id, outcome.failures, attempts)
    return True


def _backoff(retries: int) -> float:
    cfg = current_app.config
    return get_exponential_backoff_interval(
        cfg["EVENT_RETRY_BASE_SECONDS"], retries, cfg["EVENT_RETRY_MAX_SECONDS"], full_jitter=True
    )


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
