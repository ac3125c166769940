"""Fan-outs: one reaction that must reach many members (an idea's update to 10,000 supporters, a campaign's
invitations) goes out in batches.

A package registers a batch function by name; `spread` cuts the recipients into batches and hands each to the
dispatcher the application configured: Celery tasks when a worker runs the reactions, or straight away, one batch
after another, in the embedded default. A batch must be safe to run twice (notifications are unique per event
and member), because a batch task may be delivered again.
"""

from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app

Batch = Callable[[dict[str, Any], list[int]], None]
_batches: dict[str, Batch] = {}

BATCH_SIZE = 500


def batch(name: str) -> Callable[[Batch], Batch]:
    def register(func: Batch) -> Batch:
        _batches[name] = func
        return func

    return register


def run_batch(name: str, context: dict[str, Any], member_ids: list[int]) -> None:
    _batches[name](context, member_ids)


def spread(name: str, context: dict[str, Any], member_ids: Sequence[int], size: int = BATCH_SIZE) -> int:
    """Deliver to every member, `size` at a time; returns how many batches were sent."""
    if name not in _batches:
        raise KeyError(f"no fan-out named {name}")
    dispatch = current_app.extensions.get("fanout_dispatcher") or run_batch
    chunks = [list(member_ids[i : i + size]) for i in range(0, len(member_ids), size)]
    for chunk in chunks:
        dispatch(name, context, chunk)
    return len(chunks)
