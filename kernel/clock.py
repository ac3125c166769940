"""The one source of 'now'. Tests move time with `frozen` or `set_now` instead of sleeping."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_override: datetime | None = None


def now() -> datetime:
    return _override if _override is not None else datetime.now(UTC)


def set_now(value: datetime | None) -> None:
    global _override
    if value is not None and value.tzinfo is None:
        raise ValueError("clock needs an aware datetime")
    _override = value


def advance(delta: timedelta) -> datetime:
    set_now(now() + delta)
    return now()


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    previous = _override
    set_now(at)
    try:
        yield
    finally:
        set_now(previous)


def community_date(moment: datetime, tz_name: str) -> date:
    """The calendar day a moment belongs to in the community's timezone (check-ins, daily caps)."""
    return moment.astimezone(ZoneInfo(tz_name)).date()
