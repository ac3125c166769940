"""The hot score: a stored number that changes only on activity, so the hot feed is a plain index scan.

Reddit-style: the order of magnitude of engagement plus a steady time bonus, so a post needs ten times the
engagement to outrank one 12.5 hours newer.
"""

import math
from datetime import UTC, datetime

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
SECONDS_PER_DECADE = 45000


def hot_score(*, likes: int, replies: int, favorites: int, featured: bool, created_at: datetime) -> float:
    engagement = likes + 2 * replies + 2 * favorites + (20 if featured else 0)
    order = math.log10(max(engagement, 1))
    return round(order + (created_at - EPOCH).total_seconds() / SECONDS_PER_DECADE, 7)
