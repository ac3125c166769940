"""Hands committed events to the broker from one thread per process, several events to a message.

A request that commits events only appends their ids here and returns: publishing a Celery message costs more CPU
than most of a write's own statements, so the first id waits up to 100 ms for others and they leave together,
as do the ids that arrive while a message goes out. The outbox rows are already committed, so nothing is lost if the
process dies with ids still here: the sweep (`events-sweep`) hands them over after its grace period. A process that
exits normally sends what it holds first.
"""

import atexit
import logging
import os
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

BATCH_LIMIT = 50  # events per message: one message is one worker's task, so a burst still spreads over workers
LINGER_SECONDS = 0.1  # how long the first id of a message waits for company: reactions are not awaited by anyone


class EventRelay:
    def __init__(self, send: Callable[[list[int]], None], linger: float = LINGER_SECONDS) -> None:
        self._send = send
        self._linger = linger
        self._pending: list[int] = []
        self._ready = threading.Condition()
        self._owner_pid: int | None = None  # the process whose thread drains the list (a fork starts its own)
        self._sending = 0  # ids taken off the list but not yet handed to the broker
        atexit.register(self.flush)

    def __call__(self, event_ids: list[int]) -> None:
        with self._ready:
            was_empty = not self._pending
            self._pending.extend(event_ids)
            if self._owner_pid != os.getpid():
                self._owner_pid = os.getpid()
                threading.Thread(target=self._drain, name="event-relay", daemon=True).start()
            if was_empty or len(self._pending) >= BATCH_LIMIT:  # the thread sleeps or lingers until then
                self._ready.notify()

    def _take(self) -> list[int]:
        """Under the lock: the next message's ids, counted as on their way until the broker has them."""
        batch, self._pending = self._pending[:BATCH_LIMIT], self._pending[BATCH_LIMIT:]
        self._sending += len(batch)
        return batch

    def _drain(self) -> None:
        while True:
            with self._ready:
                while not self._pending:
                    self._ready.wait()
                self._ready.wait_for(lambda: len(self._pending) >= BATCH_LIMIT, timeout=self._linger)
                batch = self._take()
            if batch:  # empty when flush(), or a thread started after a fork, took them first
                self._hand_over(batch)

    def _hand_over(self, batch: list[int]) -> None:
        try:
            self._send(batch)
        except Exception:
            # Never lost: the rows are committed and the sweep finds them once the broker answers again.
            log.warning("broker unreachable: %d event(s) left for the sweep", len(batch), exc_info=True)
        finally:
            with self._ready:
                self._sending -= len(batch)
                self._ready.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Send what is waiting from the calling thread and wait for a batch on its way; True when nothing is left."""
        while True:
            with self._ready:
                batch = self._take()
                if not batch:
                    idle = self._ready.wait_for(lambda: self._sending == 0, timeout=timeout)
                    return idle and not self._pending
            self._hand_over(batch)


def flush_dispatcher(app: Flask) -> None:
    """Make sure the events handed to the app's relay have reached the broker (the sweep sends while it holds the
    events' rows, so a concurrent sweep skips them)."""
    relay = app.extensions.get("event_dispatcher")
    if isinstance(relay, EventRelay):
        relay.flush()
