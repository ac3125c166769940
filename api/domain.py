"""Every domain module that defines models or reacts to events, imported once by the application factory: its
tables join the metadata (and so the migrations) and its reactions subscribe to the outbox."""

from c2b import ideas, manifest, payments, polls, presale  # noqa: F401
from economy import activity, badges, checkin, clawback, earning, grants, leaderboards, ledger, lottery, mall, tasks  # noqa: F401
from forum import auth_sessions, boards, media, members, notifications, posts, reactions, replies  # noqa: F401
from kernel import audit, idempotency, outbox  # noqa: F401
from moderation import queue, reports, sanctions, words  # noqa: F401
from operations import campaigns, feedback, tags, tiers  # noqa: F401
