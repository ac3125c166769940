"""Clawback: when moderation (or the author) removes content, the points it earned go back; restoring returns them.

Each earning transaction on the content is reversed by a new transaction into the clawback account. A member may
already have spent the points: the reversal takes what the balance allows and records the shortfall, never
driving the balance below zero. Restoring the content credits back exactly what was clawed.
"""

from sqlalchemy import select

from c2b import events as c2b_events
from economy import ledger
from economy.earning import refresh_level
from economy.ledger import Account, LedgerTransaction, Leg, Source
from forum import events as forum_events
from kernel import outbox
from kernel.db import db
from kernel.outbox import Event

EARNING_SOURCES = (str(Source.RULE),)


def _earnings(subject_type: str, subject_id: int) -> list[LedgerTransaction]:
    return list(
        db.session.scalars(
            select(LedgerTransaction)
            .where(
                LedgerTransaction.subject_type == subject_type,
                LedgerTransaction.subject_id == subject_id,
                LedgerTransaction.source.in_(EARNING_SOURCES),
                LedgerTransaction.reverses_id.is_(None),
            )
            .order_by(LedgerTransaction.id)
        )
    )


def _reversals_of(transaction_id: int) -> list[LedgerTransaction]:
    return list(
        db.session.scalars(
            select(LedgerTransaction)
            .where(LedgerTransaction.reverses_id == transaction_id)
            .order_by(LedgerTransaction.id)
        )
    )


def _outstanding_clawback(earning: LedgerTransaction) -> LedgerTransaction | None:
    for clawback in _reversals_of(earning.id):
        if clawback.source == Source.CLAWBACK and not _reversals_of(clawback.id):
            return clawback
    return None


def claw_back(subject_type: str, subject_id: int, event_id: int) -> int:
    """Reverse every earning on the content not already reversed; returns the points taken back."""
    taken = 0
    for earning in _earnings(subject_type, subject_id):
        if _outstanding_clawback(earning) is not None or earning.beneficiary_id is None:
            continue
        account = ledger.member_account(earning.beneficiary_id, lock=True)
        db.session.refresh(account)
        pool = ledger.system_account_id("clawback")
        owed = {e.measure: e.amount for e in earning.entries if e.account_id == account.id}
        points = min(owed.get("points", 0), account.balance)
        contribution = min(owed.get("contribution", 0), account.contribution)
        shortfall = {
            "points": owed.get("points", 0) - points,
            "contribution": owed.get("contribution", 0) - contribution,
        }
        ledger.post(
            Source.CLAWBACK,
            f"clawback:{earning.id}:event:{event_id}",
            [
                Leg(account.id, "points", -points),
                Leg(pool, "points", points),
                Leg(account.id, "contribution", -contribution),
                Leg(pool, "contribution", contribution),
            ],
            memo="content removed",
            subject=(subject_type, subject_id),
            beneficiary_id=earning.beneficiary_id,
            reverses_id=earning.id,
            reason_code="clawback",
            details={"shortfall": shortfall, "event_id": event_id},
        )
        taken += points
        refresh_level(earning.beneficiary_id)
    return taken


def give_back(subject_type: str, subject_id: int, event_id: int) -> int:
    """Undo outstanding clawbacks on restored content; returns the points returned."""
    returned = 0
    for earning in _earnings(subject_type, subject_id):
        clawback = _outstanding_clawback(earning)
        if clawback is None or earning.beneficiary_id is None:
            continue
        pool = ledger.system_account_id("clawback")
        account_id = db.session.scalar(select(Account.id).where(Account.user_id == earning.beneficiary_id))
        legs = []
        for entry in clawback.entries:
            if entry.account_id == account_id:
                legs += [Leg(account_id, entry.measure, -entry.amount), Leg(pool, entry.measure, entry.amount)]
        ledger.post(
            Source.RESTORE,
            f"restore:{clawback.id}",
            legs,
            memo="content restored",
            subject=(subject_type, subject_id),
            beneficiary_id=earning.beneficiary_id,
            reverses_id=clawback.id,
            reason_code="restore",
            details={"event_id": event_id},
        )
        returned += sum(leg.amount for leg in legs if leg.account_id == account_id and leg.measure == "points")
        refresh_level(earning.beneficiary_id)
    return returned


@outbox.subscribe(
    forum_events.POST_REMOVED, forum_events.REPLY_REMOVED, c2b_events.IDEA_REMOVED, name="economy.clawback"
)
def on_removed(event: Event) -> None:
    # Only the removed content's own earnings: other members' replies under a removed post keep theirs.
    claw_back(*event.subject, event.id)


@outbox.subscribe(
    forum_events.POST_RESTORED, forum_events.REPLY_RESTORED, c2b_events.IDEA_RESTORED, name="economy.give_back"
)
def on_restored(event: Event) -> None:
    give_back(*event.subject, event.id)
