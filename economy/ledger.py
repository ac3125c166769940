"""Double-entry ledger for two measures: spendable points and the non-spendable contribution score.

Every transaction's entries sum to zero per measure across accounts. Member balances are materialised on the
account row and moved only by conditional UPDATEs that refuse to go below zero, so concurrent spends cannot
overdraw; system accounts (issuance, mall, lottery, clawback) may go negative: issuance is where points come from.

Members are credited only from CREDIT_SOURCES — contribution rules and audited staff grants. There is no source
for money: nothing that takes a payment can reach this module's credit path.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Executable,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    column,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from kernel import clock
from kernel.db import Model, UTCDateTime, db, is_postgres
from kernel.errors import Conflict
from kernel.sql import as_loaded, column_rows, dialect_statement, insert_or_none, written_rows

SYSTEM_ACCOUNTS = ("issuance", "mall", "lottery", "clawback")
MEASURES = ("points", "contribution")


class Source(enum.StrEnum):
    """Why value moved. Only the first group may credit a member account."""

    RULE = "rule"  # an earning rule applied to a contribution event (check-in, post, like received…)
    TASK = "task"  # a completed task in the tasks centre
    BADGE = "badge"  # the reward attached to a badge
    CAMPAIGN = "campaign"  # experience-officer campaign rewards (check-ins, approved shares)
    STAFF_GRANT = "staff_grant"  # audited manual grant, reason required
    RESTORE = "restore"  # giving back a clawback after moderation restored the content
    REFUND = "refund"  # points returned when a redemption or draw is cancelled
    # Debits and system movements
    MALL = "mall"
    LOTTERY = "lottery"
    CLAWBACK = "clawback"
    STAFF_DEDUCTION = "staff_deduction"
    FORFEIT = "forfeit"  # the balance of a deleted account goes to the system


CREDIT_SOURCES = frozenset(
    {Source.RULE, Source.TASK, Source.BADGE, Source.CAMPAIGN, Source.STAFF_GRANT, Source.RESTORE, Source.REFUND}
)


class Account(Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    code: Mapped[str | None] = mapped_column(String(16), unique=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    contribution: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (code IS NULL)", name="owner"),
        CheckConstraint("user_id IS NULL OR (balance >= 0 AND contribution >= 0)", name="member_not_negative"),
    )


class LedgerTransaction(Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    memo: Mapped[str] = mapped_column(String(300), default="")
    subject_type: Mapped[str | None] = mapped_column(String(24))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What earned or spent it: a rule's event type, a task code, a reward id… (for caps and history).
    reason_code: Mapped[str] = mapped_column(String(48), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Loaded when read (clawbacks do): a credit on a hot path never needs the legs it has just written.
    entries: Mapped[list["Entry"]] = relationship(back_populates="transaction")

    __table_args__ = (
        Index("ix_ledger_tx_subject", "subject_type", "subject_id"),
        Index("ix_ledger_tx_beneficiary", "beneficiary_id", "reason_code", "created_at"),
        Index("ix_ledger_tx_reverses", "reverses_id"),
    )


class Entry(Model):
    """One leg of a transaction. Immutable: corrections are new transactions."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    measure: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")

    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        UniqueConstraint("transaction_id", "account_id", "measure", name="uq_ledger_entries_leg"),
        Index("ix_ledger_entries_account", "account_id", "id"),
    )


# The legs go in as one Core executemany: nothing of them is read back in the unit of work that writes them.
_INSERT_ENTRIES = insert(Entry)


class InsufficientPoints(Conflict):
    code = "insufficient_points"


@dataclass(frozen=True)
class Leg:
    account_id: int
    measure: str
    amount: int


def _system_account_ids() -> dict[str, int]:
    """The system accounts' ids by code. The migrations create them once and they never change, so each
    application reads them once."""
    found = current_app.extensions.get("system_account_ids")
    if not found:
        rows = db.session.execute(select(Account.code, Account.id).where(Account.user_id.is_(None)))
        found = current_app.extensions["system_account_ids"] = {code: id_ for code, id_ in rows}
    return found


def system_account_id(code: str) -> int:
    try:
        return _system_account_ids()[code]
    except KeyError:
        raise LookupError(f"system account {code} is missing (run the migrations)") from None


def member_account(user_id: int, *, lock: bool = False) -> Account:
    """The member's account, created on first use; with lock=True the row is held until commit (and read afresh
    under the lock, even when this unit of work loaded it before)."""
    query = select(Account).where(Account.user_id == user_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    account = db.session.scalar(query)
    if account is not None:
        return account
    created = insert_or_none(Account, {"user_id": user_id, "balance": 0, "contribution": 0, "created_at": clock.now()})
    # None: a concurrent request created it first (we waited on its key); read it, locked if asked.
    return created or db.session.execute(query).scalar_one()


def existing(idempotency_key: str) -> LedgerTransaction | None:
    return db.session.scalar(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key))


def post(
    source: Source,
    idempotency_key: str,
    legs: list[Leg],
    *,
    memo: str = "",
    subject: tuple[str, int] | None = None,
    beneficiary_id: int | None = None,
    reverses_id: int | None = None,
    reason_code: str = "",
    details: dict[str, Any] | None = None,
) -> tuple[LedgerTransaction, bool]:
    """Record a balanced transaction once. Returns (transaction, created); a repeated key returns the first."""
    legs = [leg for leg in legs if leg.amount]
    for measure in MEASURES:
        if sum(leg.amount for leg in legs if leg.measure == measure):
            raise ValueError(f"unbalanced {measure} legs")
    member_ids = _member_account_ids({leg.account_id for leg in legs})
    if any(leg.amount > 0 and leg.account_id in member_ids for leg in legs):
        _ensure_may_credit(source)
    now = clock.now()
    # None when the key is taken (by an earlier call, or a twin that committed first: we waited on its lock).
    transaction = insert_or_none(
        LedgerTransaction,
        _transaction_values(
            source, idempotency_key, now, memo, subject, beneficiary_id, reverses_id, reason_code, details or {}
        ),
    )
    if transaction is None:
        return _twin(idempotency_key), False
    # Only member accounts keep a stored balance (checked and moved atomically, one UPDATE per account for both
    # measures, in account-id order so two transactions over the same accounts cannot deadlock); a system account's
    # balance is the sum of its entries, so the issuance account that every credit touches is never a row all
    # earning writes queue on.
    moves: dict[int, dict[str, int]] = {}
    for leg in legs:
        if leg.account_id in member_ids:
            moves.setdefault(leg.account_id, {})[leg.measure] = leg.amount
    for account_id in sorted(moves):
        _apply(account_id, moves[account_id])
    _write_legs(transaction, legs, now)
    for leg in legs:
        if leg.measure == "contribution" and leg.account_id in member_ids and beneficiary_id is not None:
            contribution_changed(beneficiary_id, leg.amount)
    return transaction, True


def _ensure_may_credit(source: Source) -> None:
    if source not in CREDIT_SOURCES:
        raise PermissionError(f"{source} may not credit a member account")


def _transaction_values(
    source: Source,
    idempotency_key: str,
    now: datetime,
    memo: str,
    subject: tuple[str, int] | None,
    beneficiary_id: int | None,
    reverses_id: int | None,
    reason_code: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    """A transaction row's values, by column."""
    return {
        "source": str(source),
        "idempotency_key": idempotency_key,
        "memo": memo[:300],
        "subject_type": subject[0] if subject else None,
        "subject_id": subject[1] if subject else None,
        "beneficiary_id": beneficiary_id,
        "reverses_id": reverses_id,
        "reason_code": reason_code,
        "details": details,
        "created_at": now,
    }


def _twin(idempotency_key: str) -> LedgerTransaction:
    return db.session.execute(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
    ).scalar_one()


def _write_legs(transaction: LedgerTransaction, legs: list[Leg], now: datetime) -> None:
    """The transaction's non-zero legs, as one INSERT."""
    rows = [
        {
            "transaction_id": transaction.id,
            "account_id": leg.account_id,
            "measure": leg.measure,
            "amount": leg.amount,
            "created_at": now,
        }
        for leg in legs
        if leg.amount
    ]
    if rows:
        db.session.connection().execute(_INSERT_ENTRIES, rows)


def contribution_changed(user_id: int, delta: int) -> None:
    """Remember contribution moves of this unit of work; leaderboards apply them once it commits."""
    db.session.info.setdefault("contribution_deltas", []).append((user_id, delta, clock.now()))


def _member_account_ids(account_ids: set[int]) -> set[int]:
    return account_ids - set(_system_account_ids().values())


def _apply(account_id: int, amounts: dict[str, int]) -> None:
    """Move a member account by measure in one conditional UPDATE: never below zero, checked atomically. An Account
    this unit of work holds is given the new figures the UPDATE returns."""
    statement = update(Account).where(Account.id == account_id).execution_options(synchronize_session=False)
    values = {}
    for measure, amount in amounts.items():
        column = Account.balance if measure == "points" else Account.contribution
        values[column.key] = column + amount
        if amount < 0:
            statement = statement.where(column + amount >= 0)
    moved = db.session.execute(statement.values(values).returning(Account.balance, Account.contribution)).first()
    if moved is None:
        shortfall = amounts.get("points", 0) if amounts.get("points", 0) < 0 else min(amounts.values())
        raise InsufficientPoints("not enough points", details={"needed": -shortfall})
    _hold(account_id, moved.balance, moved.contribution)


def _hold(account_id: int, balance: int, contribution: int) -> None:
    """An Account this unit of work holds is given the figures its row now has."""
    held = db.session.identity_map.get(db.session.identity_key(Account, account_id))
    if held is not None:
        set_committed_value(held, "balance", balance)
        set_committed_value(held, "contribution", contribution)


class Credited(NamedTuple):
    transaction: LedgerTransaction
    created: bool
    # The member's figures right after this credit; None when its key had been paid before.
    balance: int | None
    contribution: int | None


def credit(
    user_id: int,
    *,
    points: int,
    contribution: int,
    source: Source,
    key: str,
    memo: str = "",
    subject: tuple[str, int] | None = None,
    reason_code: str = "",
    details: dict[str, Any] | None = None,
) -> Credited:
    """Issue points and contribution to a member from the issuance account, once per key.

    The member's account is created or moved by one upsert that adds both measures and returns the row's id and
    figures: a credit reads nothing first and takes no lock before its write (a caller that counts caps locks the
    account itself, see earning.apply_rule)."""
    _ensure_may_credit(source)
    if points < 0 or contribution < 0:
        raise ValueError("a credit adds: debit to take away")
    now = clock.now()
    values = _transaction_values(source, key, now, memo, subject, user_id, None, reason_code, details or {})
    if is_postgres():
        moved = _credit_in_one_statement(values, points, contribution)
        if moved is None:
            return Credited(_twin(key), False, None, None)
        transaction, (account_id, balance, contribution_now) = moved
    else:
        recorded = insert_or_none(LedgerTransaction, values)
        if recorded is None:
            return Credited(_twin(key), False, None, None)
        transaction = recorded
        account_id, balance, contribution_now = column_rows(
            dialect_statement(_credit_upsert),
            {"user_id": user_id, "balance": points, "contribution": contribution, "created_at": now},
        ).one()
        issuance = system_account_id("issuance")
        legs = [
            Leg(account_id, "points", points),
            Leg(issuance, "points", -points),
            Leg(account_id, "contribution", contribution),
            Leg(issuance, "contribution", -contribution),
        ]
        _write_legs(transaction, legs, now)
    _hold(account_id, balance, contribution_now)
    if contribution:
        contribution_changed(user_id, contribution)
    return Credited(transaction, True, balance, contribution_now)


# A credit on PostgreSQL: the transaction's row, the member's account (created or moved) and the non-zero legs in one
# statement, one round trip where three would be; data-modifying CTEs all run, and the foreign keys of the legs are
# checked when the statement ends. A key already taken leaves `recorded` empty, so nothing else is written and no
# row comes back. SQLite has no data-modifying CTEs: it runs the three statements (see credit).
_CREDIT_IN_ONE_STATEMENT = (
    text(
        """
        WITH recorded AS (
            INSERT INTO ledger_transactions (source, idempotency_key, memo, subject_type, subject_id, beneficiary_id,
                                             reason_code, reverses_id, details, created_at)
            VALUES (:source, :idempotency_key, :memo, :subject_type, :subject_id, :beneficiary_id, :reason_code,
                    :reverses_id, :details, :created_at)
            ON CONFLICT DO NOTHING
            RETURNING *
        ), moved AS (
            INSERT INTO accounts (user_id, balance, contribution, created_at)
            SELECT beneficiary_id, CAST(:points AS integer), CAST(:contribution AS integer), created_at FROM recorded
            ON CONFLICT (user_id) DO UPDATE SET balance = accounts.balance + excluded.balance,
                                                contribution = accounts.contribution + excluded.contribution
            RETURNING id, balance, contribution
        ), legs AS (
            INSERT INTO ledger_entries (transaction_id, account_id, measure, amount, created_at)
            SELECT recorded.id, CASE WHEN leg.member THEN moved.id ELSE CAST(:issuance AS integer) END, leg.measure,
                   leg.amount, recorded.created_at
            FROM recorded, moved, (VALUES (true, 'points', CAST(:points AS integer)),
                                          (false, 'points', -CAST(:points AS integer)),
                                          (true, 'contribution', CAST(:contribution AS integer)),
                                          (false, 'contribution', -CAST(:contribution AS integer)))
                                  AS leg (member, measure, amount)
            WHERE leg.amount <> 0
        )
        SELECT recorded.*, moved.id AS account_id, moved.balance AS account_balance,
               moved.contribution AS account_contribution
        FROM recorded, moved
        """
    )
    .bindparams(
        bindparam("details", type_=JSON),
        bindparam("created_at", type_=UTCDateTime()),
    )
    .columns(
        *LedgerTransaction.__table__.columns,
        column("account_id", Integer),
        column("account_balance", Integer),
        column("account_contribution", Integer),
    )
)
_RECORDED_COLUMNS = len(LedgerTransaction.__table__.columns)


def _credit_in_one_statement(
    transaction: dict[str, Any], points: int, contribution: int
) -> tuple[LedgerTransaction, tuple[int, int, int]] | None:
    """The credit as one statement (PostgreSQL), given its transaction row's values: the transaction and the
    account's (id, balance, contribution), or None when the key had been paid."""
    row = written_rows(
        _CREDIT_IN_ONE_STATEMENT,
        {**transaction, "points": points, "contribution": contribution, "issuance": system_account_id("issuance")},
    ).first()
    if row is None:
        return None
    return as_loaded(LedgerTransaction, row[:_RECORDED_COLUMNS]), tuple(row[_RECORDED_COLUMNS:])


def _credit_upsert(insert: Callable[[Any], Any]) -> Executable:
    """INSERT the member's account holding the credit, or add the credit to the one there (see dialect_statement)."""
    upsert = insert(Account.__table__)
    return upsert.on_conflict_do_update(
        index_elements=[Account.user_id],
        set_={
            "balance": Account.balance + upsert.excluded.balance,
            "contribution": Account.contribution + upsert.excluded.contribution,
        },
    ).returning(Account.id, Account.balance, Account.contribution)


def debit(
    user_id: int,
    *,
    points: int,
    to: str,
    source: Source,
    key: str,
    memo: str = "",
    subject: tuple[str, int] | None = None,
    reason_code: str = "",
    details: dict[str, Any] | None = None,
) -> tuple[LedgerTransaction, bool]:
    """Spend a member's points into a system account; InsufficientPoints (409) if the balance is short."""
    member = member_account(user_id)
    return post(
        source,
        key,
        [Leg(member.id, "points", -points), Leg(system_account_id(to), "points", points)],
        memo=memo,
        subject=subject,
        beneficiary_id=user_id,
        reason_code=reason_code,
        details=details,
    )


def forfeit_balance(user_id: int, reason: str) -> LedgerTransaction | None:
    """Move a member's whole balance to the `forfeited` system account (account deletion); once per member."""
    account = member_account(user_id, lock=True)
    if account.balance == 0:
        return None
    transaction, _ = debit(
        user_id,
        points=account.balance,
        to="forfeited",
        source=Source.FORFEIT,
        key=f"forfeit:{user_id}",
        memo="账号注销，积分清零",
        reason_code=reason,
    )
    return transaction


def system_balance(code: str, measure: str = "points") -> int:
    """A system account's balance: the sum of its entries (it keeps no stored balance, see `post`)."""
    account_id = system_account_id(code)
    return db.session.execute(
        select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.account_id == account_id, Entry.measure == measure)
    ).scalar_one()


def verify() -> list[str]:
    """Recompute everything from the entries; every problem found, or an empty list. Member balances must equal
    their entries; system accounts have no stored balance to disagree with (theirs is their entries)."""
    problems: list[str] = []
    unbalanced = db.session.execute(
        select(Entry.transaction_id, Entry.measure, func.sum(Entry.amount))
        .group_by(Entry.transaction_id, Entry.measure)
        .having(func.sum(Entry.amount) != 0)
    ).all()
    problems += [f"transaction {t} does not balance in {m} (off by {s})" for t, m, s in unbalanced]
    sums = {
        (account_id, measure): total
        for account_id, measure, total in db.session.execute(
            select(Entry.account_id, Entry.measure, func.sum(Entry.amount)).group_by(Entry.account_id, Entry.measure)
        )
    }
    for account in db.session.scalars(select(Account).where(Account.user_id.is_not(None))):
        for measure, stored in (("points", account.balance), ("contribution", account.contribution)):
            derived = sums.get((account.id, measure), 0)
            if derived != stored:
                problems.append(f"account {account.id} {measure}: stored {stored}, entries say {derived}")
            if account.user_id is not None and stored < 0:
                problems.append(f"account {account.id} {measure} is negative ({stored})")
    return problems
