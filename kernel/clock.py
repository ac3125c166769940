"""The one source of 'now'. Tests move time with `frozen` or `set_now` instead of sleeping."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app

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


# The community's day: check-ins, daily caps, tasks, leaderboards and dashboards all cut days in COMMUNITY_TZ
# (Asia/Shanghai by default), never in UTC.


def community_zone() -> ZoneInfo:
    return _zone(current_app.config["COMMUNITY_TZ"])


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def community_day(moment: datetime) -> date:
    """The calendar day a moment belongs to in the community's time zone."""
    return moment.astimezone(community_zone()).date()


def day_start(day: date) -> datetime:
    """The UTC instant a community day begins."""
    return datetime.combine(day, time.min, tzinfo=community_zone()).astimezone(UTC)


def community_day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the community day that contains `moment` (23 or 25 hours long across DST)."""
    day = community_day(moment)
    return day_start(day), day_start(day + timedelta(days=1))
