"""Per-action member limits wrapped around views: checked before, counted only when the action succeeded."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from api.auth import current_member
from api.errors import documented_errors
from moderation import limits


def action_limited(blp, action: str) -> Callable:
    def decorate(func) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(*args, **kwargs) -> Any:
            allowance = limits.allowance(action, current_member())
            limits.check(allowance)
            result = func(*args, **kwargs)
            limits.consume(allowance)
            return result

        return documented_errors(blp, 429)(wrapper)

    return decorate
