"""The unit of work: one transaction per request or per job batch.

It commits through the outbox when the work succeeds (so the events it wrote are dispatched) and rolls back on any
error, so services never commit and a half-done action is never visible. Nested uses join the outermost one, which
alone commits. A domain error may ask to keep its changes (`keep_changes`): a revocation that must outlive the
refused request, for example.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from kernel import outbox
from kernel.db import db
from kernel.errors import DomainError

DEPTH_KEY = "unit_of_work_depth"

P = ParamSpec("P")
R = TypeVar("R")


class Work:
    """Handle on the running unit of work; `refuse()` makes it roll back without raising."""

    def __init__(self) -> None:
        self.refused = False
        self.autocommitted = False  # a read without a transaction: nothing is left to commit at the end

    def refuse(self) -> None:
        self.refused = True


@contextmanager
def transaction() -> Iterator[Work]:
    info = db.session.info
    depth = info.get(DEPTH_KEY, 0)
    info[DEPTH_KEY] = depth + 1
    work = Work()
    try:
        yield work
    except DomainError as exc:
        if depth == 0:
            _finish(commit=exc.keep_changes)
        raise
    except BaseException:
        if depth == 0:
            _finish(commit=False)
        raise
    else:
        if depth == 0 and not work.autocommitted:
            _finish(commit=not work.refused)
    finally:
        info[DEPTH_KEY] = depth


def reads_only(func: Callable[P, R]) -> Callable[P, R]:
    """Mark a view that only reads (a feed page): when it is the first to reach the database in its request, its
    statements run without BEGIN and COMMIT, two round trips fewer on the hottest reads. Each statement still sees
    committed data only, as under READ COMMITTED inside a transaction; a statement that writes would commit alone,
    which is why only views that never write are marked."""
    func.reads_only = True  # type: ignore[attr-defined]
    return func


def transactional(func: Callable[P, R]) -> Callable[P, R]:
    """Run a function as one unit of work. A returned HTTP answer of 400 or above counts as a failure."""
    reading = getattr(func, "reads_only", False)

    @wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with transaction() as work:
            if reading:
                read_without_transaction(work)
            result = func(*args, **kwargs)
            if getattr(result, "status_code", 200) >= 400:
                work.refuse()
        return result

    run.is_transactional = True  # type: ignore[attr-defined]
    return run


def read_without_transaction(work: Work) -> None:
    """Open the session's connection in autocommit, unless a transaction has already begun (a signed-in reader's
    session was checked first): then the reads join it. Autocommitted, the work ends without a commit: the request's
    teardown hands the connection back."""
    session = db.session()
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        work.autocommitted = True


def _finish(*, commit: bool) -> None:
    if commit:
        outbox.commit()
    else:
        db.session.rollback()
        outbox.discard_pending()
