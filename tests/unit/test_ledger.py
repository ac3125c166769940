import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select, text

from economy import ledger
from economy.ledger import Account, Entry, InsufficientPoints, LedgerTransaction, Leg, Source
from forum import members
from kernel.db import db
from tests.conftest import ON_POSTGRES
from tests.support import statements


def _member(name: str) -> int:
    user = members.register(name, "long enough password")
    db.session.commit()
    return user.id


def _balance(user_id: int) -> int:
    """Stored balance (a member without an account yet has 0)."""
    return db.session.scalar(select(Account.balance).where(Account.user_id == user_id)) or 0


def test_credit_debit_and_idempotency(ctx):
    uid = _member("ledgerone")
    first = ledger.credit(uid, points=30, contribution=7, source=Source.RULE, key="k1")
    again = ledger.credit(uid, points=30, contribution=7, source=Source.RULE, key="k1")
    assert first.created and not again.created and again.transaction.id == first.transaction.id
    # The first credit created the account and says what it holds; the repeat paid nothing and says nothing.
    assert (first.balance, first.contribution) == (30, 7) and (again.balance, again.contribution) == (None, None)
    assert ledger.credit(uid, points=5, contribution=0, source=Source.TASK, key="k2")[2:] == (35, 7)
    ledger.debit(uid, points=12, to="mall", source=Source.MALL, key="spend-1")
    db.session.commit()
    assert _balance(uid) == 23
    with pytest.raises(InsufficientPoints):
        ledger.debit(uid, points=24, to="mall", source=Source.MALL, key="spend-2")
    db.session.rollback()
    assert _balance(uid) == 23
    assert ledger.verify() == []


def test_a_credit_writes_its_transaction_account_and_legs_and_on_postgres_in_one_statement(app, ctx):
    uid = _member("ledgerfour")
    issuance = ledger.system_account_id("issuance")
    with statements(app, until_commit=False) as seen:
        first = ledger.credit(
            uid, points=8, contribution=0, source=Source.RULE, key="one", subject=("post", 3), details={"a": 1}
        )
    assert len(seen) == (1 if ON_POSTGRES else 3), seen
    with statements(app, until_commit=False) as seen:
        repeat = ledger.credit(uid, points=8, contribution=0, source=Source.RULE, key="one")
    assert not repeat.created and repeat.transaction.id == first.transaction.id
    assert len(seen) == 2, seen  # the refused write, then its twin
    second = ledger.credit(uid, points=2, contribution=3, source=Source.TASK, key="two", memo="任务")
    db.session.commit()
    db.session.expire_all()
    account = ledger.member_account(uid)
    assert (first.balance, first.contribution, second.balance, second.contribution) == (8, 0, 10, 3)
    assert (account.balance, account.contribution) == (10, 3)
    recorded = db.session.get_one(LedgerTransaction, first.transaction.id)
    assert (recorded.source, recorded.beneficiary_id, recorded.subject_type, recorded.subject_id) == (
        "rule",
        uid,
        "post",
        3,
    )
    assert recorded.details == {"a": 1} and recorded.created_at.tzinfo is not None
    assert first.transaction.created_at == recorded.created_at
    legs = db.session.execute(
        select(Entry.transaction_id, Entry.account_id, Entry.measure, Entry.amount).order_by(Entry.id)
    ).all()
    one, two = first.transaction.id, second.transaction.id
    assert sorted(legs) == sorted(
        [
            (one, account.id, "points", 8),
            (one, issuance, "points", -8),  # no contribution legs: zero amounts are not written
            (two, account.id, "points", 2),
            (two, issuance, "points", -2),
            (two, account.id, "contribution", 3),
            (two, issuance, "contribution", -3),
        ]
    )
    assert ledger.verify() == []


def test_only_contribution_sources_credit_members(ctx):
    uid = _member("ledgertwo")
    account, mall = ledger.member_account(uid), ledger.system_account_id("mall")
    for source in (Source.MALL, Source.LOTTERY, Source.CLAWBACK, Source.STAFF_DEDUCTION):
        with pytest.raises(PermissionError):
            ledger.post(source, f"bad-{source}", [Leg(account.id, "points", 5), Leg(mall, "points", -5)])
    with pytest.raises(ValueError, match="unbalanced"):
        ledger.post(Source.RULE, "unbalanced", [Leg(account.id, "points", 5)])
    for source in (Source.MALL, Source.FORFEIT):
        with pytest.raises(PermissionError):
            ledger.credit(uid, points=5, contribution=0, source=source, key=f"credit-{source}")
    with pytest.raises(ValueError, match="debit"):
        ledger.credit(uid, points=-5, contribution=0, source=Source.RULE, key="negative")


def test_verify_catches_tampering_and_the_cli_fails(app, ctx):
    uid = _member("ledgerthree")
    ledger.credit(uid, points=10, contribution=1, source=Source.RULE, key="k")
    db.session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["economy", "verify"]).exit_code == 0
    db.session.execute(text("UPDATE accounts SET balance = balance + 1 WHERE user_id = :u"), {"u": uid})
    db.session.commit()
    assert any("stored 11, entries say 10" in p for p in ledger.verify())
    result = runner.invoke(args=["economy", "verify"])
    assert result.exit_code == 1


NAMES = itertools.count(1)  # unique across every example of the state machine


class LedgerMachine(RuleBasedStateMachine):
    """Random credits, spends, repeats and refusals; the books must always balance and match a simple model."""

    def __init__(self):
        super().__init__()
        self.model: dict[int, int] = {}
        self.keys: list[tuple[str, int, int]] = []

    @initialize()
    def members(self):
        self.users = [_member(f"hyp{next(NAMES)}") for _ in range(3)]
        self.model = dict.fromkeys(self.users, 0)

    def _key(self) -> str:
        return f"hyp-key-{next(NAMES)}"  # unique across examples: committed keys outlive a machine

    @rule(who=st.integers(0, 2), points=st.integers(1, 50))
    def credit(self, who, points):
        uid = self.users[who]
        key = self._key()
        ledger.credit(uid, points=points, contribution=points, source=Source.RULE, key=key)
        db.session.commit()
        self.model[uid] += points
        self.keys.append((key, uid, points))

    @rule(who=st.integers(0, 2), points=st.integers(1, 80))
    def spend(self, who, points):
        uid = self.users[who]
        try:
            ledger.debit(uid, points=points, to="mall", source=Source.MALL, key=self._key())
            db.session.commit()
            self.model[uid] -= points
        except InsufficientPoints:
            db.session.rollback()
            assert points > self.model[uid]

    @rule(data=st.data())
    def repeat_a_credit(self, data):
        if not self.keys:
            return
        key, uid, points = data.draw(st.sampled_from(self.keys))
        assert not ledger.credit(uid, points=points, contribution=points, source=Source.RULE, key=key).created
        db.session.commit()

    @invariant()
    def books_balance(self):
        if self.model:
            assert ledger.verify() == []
            for uid, expected in self.model.items():
                assert _balance(uid) == expected >= 0


@pytest.mark.usefixtures("ctx")
def test_ledger_state_machine():
    LedgerMachine.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    LedgerMachine.TestCase().runTest()
