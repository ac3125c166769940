"""Progress of long jobs, for whoever is watching. A job reports each step it finishes; the command line shows it
on a terminal (api/cli), and anywhere else nothing listens, so reporting costs nothing."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Reporter = Callable[[str, int, int], None]  # (what, done, total)
_reporter: ContextVar[Reporter | None] = ContextVar("progress_reporter", default=None)


def report(what: str, done: int, total: int) -> None:
    reporter = _reporter.get()
    if reporter is not None:
        reporter(what, done, total)


@contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)
