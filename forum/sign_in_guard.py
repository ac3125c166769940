"""Failed password sign-ins counted per account, whatever address they come from.

Address limits alone let an attacker rotate addresses against one account; after SIGN_IN_FAILURE_LIMIT failures
(default 10 per 15 minutes) the account refuses password sign-ins with 429 until the window ends. Windows live in
the store; if it is unreachable the guard is skipped (address limits and argon2's cost still apply).
"""

from flask import current_app
from limits import parse_many

from kernel.limits_storage import count_use, ensure_within

NAMESPACE = "sign-in-failures"


def _items():
    return parse_many(current_app.config["SIGN_IN_FAILURE_LIMIT"])


def ensure_allowed(account_key: str) -> None:
    ensure_within(
        _items(),
        NAMESPACE,
        account_key,
        message="too many failed sign-ins for this account — try again later",
        code="sign_in_locked",
        details={},
    )


def record_failure(account_key: str) -> None:
    count_use(_items(), NAMESPACE, account_key)
