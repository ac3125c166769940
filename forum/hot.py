"""The hot score: a stored number that changes only on activity, so the hot feed is a plain index scan.

Reddit-style: the order of magnitude of engagement plus a steady time bonus, so a post needs ten times the
engagement to outrank one 12.5 hours newer. Ideas rank by the same formula (their verified supporters as the
engagement). Counter UPDATEs write it in SQL (`ranking_sql`), from the counts they set, so a row takes one write.
"""

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Numeric, case, cast, func

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SECONDS_PER_DECADE = 45000
# What a post's engagement weighs: its counters (named as its columns) and being featured.
POST_WEIGHTS = {"like_count": 1, "reply_count": 2, "favorite_count": 2}
FEATURED_BONUS = 20


def age_term(since: datetime) -> float:
    return (since - EPOCH).total_seconds() / SECONDS_PER_DECADE


def ranking(engagement: int, since: datetime) -> float:
    return round(math.log10(max(engagement, 1)) + age_term(since), 7)


def ranking_sql(engagement: ColumnElement[Any], age: Any) -> ColumnElement[float]:
    """`ranking` in SQL (both databases' log() is base 10); `age` is `age_term`'s value, or a parameter for it."""
    at_least_one = case((engagement > 1, engagement), else_=1)
    return func.round(cast(func.log(at_least_one) + age, Numeric), 7)


def engagement_of_post(*, likes: int, replies: int, favorites: int, featured: bool) -> int:
    counts = {"like_count": likes, "reply_count": replies, "favorite_count": favorites}
    return sum(POST_WEIGHTS[name] * count for name, count in counts.items()) + (FEATURED_BONUS if featured else 0)


def hot_score(*, likes: int, replies: int, favorites: int, featured: bool, created_at: datetime) -> float:
    return ranking(engagement_of_post(likes=likes, replies=replies, favorites=favorites, featured=featured), created_at)
