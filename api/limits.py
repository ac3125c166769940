"""Per-action member limits wrapped around views: checked before, counted only when the action succeeded."""

from functools import wraps

from api.auth import current_member
from api.errors import documented_errors
from moderation import limits


def action_limited(blp, action: str):
    def decorate(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            member = current_member()
            limits.check(action, member)
            result = func(*args, **kwargs)
            limits.consume(action, member)
            return result

        return documented_errors(blp, 429)(wrapper)

    return decorate
