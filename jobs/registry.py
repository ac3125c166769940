"""Every periodic job: what it does, when beat runs it (in the community's time zone), and its CLI name.

Each job's work is the domain's own function run as units of work; the registry adds the schedule and the lock
that keeps two runs of one job from overlapping.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from celery.schedules import crontab
from flask import current_app

from c2b import ideas, payments, presale, review_rounds, wechatpay
from economy import badges, leaderboards
from forum import subscribe_messages, view_counts
from jobs import relay
from jobs.locks import exclusive
from kernel import clock, outbox
from kernel.unit_of_work import transaction
from moderation import content_security
from operations import account_deletion, data_export, tiers


@dataclass(frozen=True)
class Result:
    summary: str
    ok: bool = True


@dataclass(frozen=True)
class Job:
    name: str
    group: str  # `flask <group> <command>`
    command: str
    about: str
    work: Callable[[], Result]
    every: timedelta | crontab | None  # None: run by hand only
    lock_seconds: int = 600


def _sweep_events() -> Result:
    """Hand events whose reactions have not all run (a lost message, a dead worker) to the reactions again."""
    grace = timedelta(seconds=current_app.config["EVENT_SWEEP_GRACE_SECONDS"])
    inline = outbox.inline()
    with transaction():
        event_ids = outbox.due(older_than=clock.now() - grace)
        if not inline:
            outbox.dispatch(event_ids)
            relay.flush_dispatcher(current_app)  # sent while the rows are locked, so a concurrent sweep skips them
    if inline:
        outbox.process_events(event_ids)
    return Result(f"handed {len(event_ids)} event(s) to their reactions")


def _recount_ideas() -> Result:
    counted = ideas.recount_supporting(clock.now())
    with transaction():
        joined = review_rounds.join_open_round(clock.now())
    return Result(f"recounted {counted} idea(s); {joined} joined the open review round")


def _publish_rounds() -> Result:
    return Result(f"published {review_rounds.publish_due(clock.now())} review round(s)")


def _expire_ideas() -> Result:
    with transaction():
        count = ideas.expire_due(clock.now())
    return Result(f"expired {count} idea(s)")


def _expire_orders() -> Result:
    with transaction():
        count = presale.expire_unpaid(clock.now())
    return Result(f"expired {count} order(s)")


def _settle_presales() -> Result:
    return Result(f"settled {presale.settle_due(clock.now())} pre-sale(s)")


def _remind_balance() -> Result:
    return Result(f"reminded {presale.remind_balance_due(clock.now())} pre-sale(s) of their balance deadline")


def _send_subscribe_messages() -> Result:
    sent, unsent = subscribe_messages.send_pending(subscribe_messages.server_client())
    return Result(f"sent {sent} subscribe message(s), {unsent} not sent")


def _erase_deleted_accounts() -> Result:
    return Result(f"erased {account_deletion.erase_due(clock.now())} account(s)")


def _prepare_exports() -> Result:
    return Result(f"prepared {data_export.prepare_pending(clock.now())} export(s)")


def _purge_exports() -> Result:
    with transaction():
        count = data_export.purge_expired(clock.now())
    return Result(f"removed {count} expired export(s)")


def _recheck_media() -> Result:
    with transaction():
        count = content_security.resubmit_unasked(clock.now())
    return Result(f"asked WeChat about {count} held image(s)")


def _send_refunds() -> Result:
    cfg = current_app.config
    client = payments.PaymentProviderClient(cfg["PAYMENT_API_BASE"], cfg["PAYMENT_WEBHOOK_SECRET"])
    sent, failed = payments.send_refunds(client, wechatpay.configured_client())
    return Result(f"sent {sent} refund(s), {failed} failed", ok=not failed)


def _reconcile_wechat_payments() -> Result:
    client = wechatpay.configured_client()
    if client is None:
        return Result("WeChat Pay is not configured")
    settled = payments.reconcile_wechat(client, clock.now() - timedelta(minutes=5))
    return Result(f"settled {settled} payment(s) found at WeChat Pay")


def _recompute_tiers() -> Result:
    with transaction():
        sizes = tiers.recompute(clock.now())
    return Result(", ".join(f"{tier}: {count}" for tier, count in sizes.items()))


def _flush_views() -> Result:
    return Result(f"flushed {view_counts.flush_views()} view(s)")


def _rebuild_leaderboards() -> Result:
    return Result(f"ranked {leaderboards.rebuild(clock.now())} member(s)")


def _backfill_badges() -> Result:
    return Result(f"awarded {badges.backfill()} badge(s)")


JOBS = (
    Job(
        "events-sweep",
        "events",
        "sweep",
        "re-dispatch events left without reactions",
        _sweep_events,
        timedelta(minutes=1),
    ),
    Job("ideas-expire", "ideas", "expire", "expire ideas past their deadline", _expire_ideas, crontab(minute=5)),
    Job(
        "ideas-publish-rounds",
        "ideas",
        "publish-rounds",
        "publish the decisions of review rounds whose results date has come",
        _publish_rounds,
        timedelta(minutes=5),
    ),
    Job(
        "ideas-recount",
        "ideas",
        "recount",
        "count supporters again (accounts age into verification; banned and deleted ones stop counting)",
        _recount_ideas,
        crontab(minute=35),
    ),
    Job(
        "presale-expire-orders",
        "presale",
        "expire-orders",
        "expire unpaid orders, give units back",
        _expire_orders,
        timedelta(minutes=1),
    ),
    Job(
        "presale-settle",
        "presale",
        "settle",
        "settle closed pre-sales (confirm or refund)",
        _settle_presales,
        timedelta(minutes=5),
    ),
    Job(
        "presale-remind-balance",
        "presale",
        "remind-balance",
        "remind deposit payers 24 h before the balance deadline",
        _remind_balance,
        timedelta(minutes=15),
    ),
    Job(
        "wechat-send-messages",
        "wechat",
        "send-messages",
        "send queued WeChat subscribe messages in batches",
        _send_subscribe_messages,
        timedelta(minutes=1),
    ),
    Job(
        "presale-send-refunds",
        "presale",
        "send-refunds",
        "send requested refunds to the provider",
        _send_refunds,
        timedelta(minutes=5),
    ),
    Job(
        "presale-reconcile",
        "presale",
        "reconcile",
        "ask WeChat Pay about orders still unpaid (a lost notification never loses a payment)",
        _reconcile_wechat_payments,
        timedelta(minutes=5),
    ),
    Job(
        "members-erase-deleted",
        "members",
        "erase-deleted",
        "erase accounts whose deletion cooling-off period is over",
        _erase_deleted_accounts,
        crontab(minute=15),
    ),
    Job(
        "members-prepare-exports",
        "members",
        "prepare-exports",
        "write the personal-data exports members asked for",
        _prepare_exports,
        timedelta(minutes=1),
    ),
    Job(
        "members-purge-exports",
        "members",
        "purge-exports",
        "delete export files past their keeping time",
        _purge_exports,
        crontab(hour=4, minute=0),
    ),
    Job(
        "moderation-recheck-media",
        "moderation",
        "recheck-media",
        "ask WeChat again about held images it never received or never answered",
        _recheck_media,
        timedelta(minutes=5),
    ),
    Job(
        "ops-recompute-tiers",
        "ops",
        "recompute-tiers",
        "recompute activity tiers",
        _recompute_tiers,
        crontab(hour=3, minute=0),
    ),
    Job("forum-flush-views", "forum", "flush-views", "write buffered view counts", _flush_views, timedelta(minutes=1)),
    Job(
        "economy-rebuild-leaderboards",
        "economy",
        "rebuild-leaderboards",
        "rebuild leaderboards from the ledger",
        _rebuild_leaderboards,
        crontab(hour=0, minute=10),
    ),
    Job(
        "badges-backfill",
        "badges",
        "backfill",
        "award rule badges members already qualify for",
        _backfill_badges,
        None,
        lock_seconds=3600,
    ),
)
BY_NAME = {job.name: job for job in JOBS}


def run(name: str) -> Result | None:
    """Run a job now unless another run of it holds the lock (then None)."""
    job = BY_NAME[name]
    with exclusive(job.name, job.lock_seconds) as mine:
        return job.work() if mine else None
