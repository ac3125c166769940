"""Every domain module that defines models or reacts to events, imported once by the application factory: its
tables join the metadata (and so the migrations) and its reactions subscribe to the outbox."""

from c2b import (  # noqa: F401
    addresses,
    fulfilment,
    idea_merges,
    ideas,
    manifest,
    notices,
    payments,
    polls,
    presale,
    review_rounds,
)
from economy import activity, badges, checkin, clawback, earning, grants, leaderboards, ledger, lottery, mall, tasks  # noqa: F401
from forum import (  # noqa: F401
    auth_sessions,
    boards,
    media,
    members,
    notifications,
    phones,
    policies,
    posts,
    reactions,
    replies,
    subscribe_messages,
)
from kernel import audit, idempotency, outbox  # noqa: F401
from moderation import content_security, queue, reports, sanctions, words  # noqa: F401
from operations import account_deletion, campaigns, data_export, feedback, tags, tiers  # noqa: F401
