"""The relay that hands committed events to the broker from its own thread (jobs/relay.py)."""

import threading

from jobs import relay
from jobs.relay import EventRelay


class Sender:
    """Records every batch; the first one waits until the test lets it go, as a slow broker would."""

    def __init__(self, hold_first: bool = False, fail_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.delivered = threading.Semaphore(0)
        if not hold_first:
            self.release.set()
        self.fail_first = fail_first

    def __call__(self, event_ids: list[int]) -> None:
        self.started.set()
        assert self.release.wait(10)
        if self.fail_first:
            self.fail_first = False
            self.delivered.release()
            raise ConnectionError("the broker is away")
        self.batches.append(list(event_ids))
        self.delivered.release()


def _wait_for(sender: Sender, batches: int) -> None:
    for _ in range(batches):
        assert sender.delivered.acquire(timeout=10), sender.batches


def test_the_caller_returns_at_once_and_ids_arriving_meanwhile_leave_in_one_message():
    sender = Sender(hold_first=True)
    handed = EventRelay(sender)
    handed([1])
    assert sender.started.wait(10)  # the first message is on its way, held by the broker
    for event_id in (2, 3, 4):
        handed([event_id])  # returns although the broker has not answered
    handed([5, 6])
    sender.release.set()
    _wait_for(sender, 2)
    assert sender.batches == [[1], [2, 3, 4, 5, 6]]


def test_ids_handed_in_while_the_first_lingers_go_with_it():
    sender = Sender()
    handed = EventRelay(sender, linger=0.5)
    handed([1])
    handed([2])
    handed([3, 4])
    _wait_for(sender, 1)
    assert sender.batches == [[1, 2, 3, 4]]


def test_a_full_message_leaves_without_lingering():
    sender = Sender()
    handed = EventRelay(sender, linger=30)
    handed(list(range(relay.BATCH_LIMIT)))
    _wait_for(sender, 1)  # within the helper's 10 seconds, far less than the linger
    assert sender.batches == [list(range(relay.BATCH_LIMIT))]


def test_a_message_carries_at_most_the_batch_limit():
    sender = Sender(hold_first=True)
    handed = EventRelay(sender)
    handed([0])
    assert sender.started.wait(10)
    handed(list(range(1, relay.BATCH_LIMIT + 6)))
    sender.release.set()
    _wait_for(sender, 3)
    assert sender.batches == [[0], list(range(1, relay.BATCH_LIMIT + 1)), list(range(relay.BATCH_LIMIT + 1, 56))]


def test_a_broker_error_is_not_the_callers_and_the_next_events_still_go():
    sender = Sender(fail_first=True)
    handed = EventRelay(sender)
    handed([1])  # lost to the broker: the sweep finds its committed row later
    _wait_for(sender, 1)
    handed([2])
    _wait_for(sender, 1)
    assert sender.batches == [[2]]


def test_flush_sends_what_waits_and_what_is_on_its_way_before_returning():
    sender = Sender(hold_first=True)
    handed = EventRelay(sender)
    handed([1])
    assert sender.started.wait(10)
    handed([2, 3])
    threading.Timer(0.2, sender.release.set).start()
    assert handed.flush(timeout=10)
    assert sorted(sum(sender.batches, [])) == [1, 2, 3]


def test_flush_gives_up_after_its_timeout_while_the_broker_holds_a_message():
    sender = Sender(hold_first=True)
    handed = EventRelay(sender)
    handed([1])
    assert sender.started.wait(10)
    assert handed.flush(timeout=0.2) is False
    sender.release.set()
    assert handed.flush(timeout=10)


def test_a_forked_process_starts_its_own_thread():
    sender = Sender()
    handed = EventRelay(sender)
    handed([1])
    _wait_for(sender, 1)
    handed._owner_pid = -1  # as seen from a child of the process that started the first thread (gone in the child)
    before = _relay_threads()
    handed([2])
    _wait_for(sender, 1)
    assert sender.batches == [[1], [2]] and len(_relay_threads() - before) == 1


def _relay_threads() -> set[int | None]:
    return {thread.ident for thread in threading.enumerate() if thread.name == "event-relay"}
