"""Many threads against PostgreSQL spending, redeeming and checking in; then the ledger invariants."""

from sqlalchemy import func, select

from kernel.db import db
from tests.conftest import postgres_only
from tests.support import run_concurrently


def _invariants(app):
    with app.app_context():
        from economy.ledger import Account, verify

        assert verify() == []
        assert db.session.scalar(select(func.min(Account.balance)).where(Account.user_id.is_not(None))) >= 0


@postgres_only
def test_fifty_threads_spend_one_balance_on_limited_stock(app, client, members, forum):
    operator, member = members.create(role="operator"), members.create()
    others = [members.create() for _ in range(10)]
    client.post(
        f"/api/v1/users/{member.id}/points/grants", json={"points": 300, "reason": "load"}, headers=forum.admin.headers
    )
    for other in others:
        client.post(
            f"/api/v1/users/{other.id}/points/grants",
            json={"points": 25, "reason": "load"},
            headers=forum.admin.headers,
        )
    item = client.post(
        "/api/v1/rewards", json={"name": "Limited", "price_points": 10, "stock": 25}, headers=operator.headers
    ).get_json()
    url = f"/api/v1/rewards/{item['id']}/redeem"
    jobs = [
        lambda c, i=i: c.post(url, json={}, headers={**member.headers, "Idempotency-Key": f"spend-{i:04d}"})
        for i in range(40)
    ]
    # Ten of the member's requests are duplicates of earlier keys, sent at the same time.
    jobs += [
        lambda c, i=i: c.post(url, json={}, headers={**member.headers, "Idempotency-Key": f"spend-{i:04d}"})
        for i in range(10)
    ]
    jobs += [lambda c, o=o: c.post(url, json={}, headers=o.headers) for o in others for _ in range(3)]
    responses = run_concurrently(app, jobs)
    assert {r.status_code for r in responses} <= {201, 409}
    with app.app_context():
        from economy.ledger import Account
        from economy.mall import Redemption, RewardItem

        sold = db.session.scalar(select(func.sum(Redemption.quantity)))
        stock = db.session.get(RewardItem, item["id"]).stock
        assert sold + stock == 25 and stock >= 0  # no oversell
        mine = db.session.scalar(select(func.count()).where(Redemption.user_id == member.id))
        balance = db.session.scalar(select(Account.balance).where(Account.user_id == member.id))
        assert balance == 300 - 10 * mine >= 0  # no overspend, each redemption paid once
        keys = db.session.scalars(select(Redemption.idempotency_key).where(Redemption.user_id == member.id)).all()
        assert len(keys) == len(set(keys))
        for other in others:
            spent = db.session.scalar(select(func.count()).where(Redemption.user_id == other.id))
            assert spent <= 2  # 25 points buy two at most
    _invariants(app)


@postgres_only
def test_a_check_in_double_tap_pays_once(app, client, members):
    member = members.create()
    responses = run_concurrently(
        app, [lambda c: c.post("/api/v1/me/checkin", headers=member.headers) for _ in range(20)]
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    assert client.get("/api/v1/me/points", headers=member.headers).get_json()["balance"] == 5
    _invariants(app)


@postgres_only
def test_concurrent_awards_respect_daily_caps(app, client, members, forum):
    operator = members.create(role="operator")
    client.patch("/api/v1/economy/rules/like_received", json={"daily_cap": 5}, headers=operator.headers)
    author = members.create()
    post = forum.post(author, forum.board()["id"])
    fans = [members.create() for _ in range(16)]
    run_concurrently(app, [lambda c, f=f: c.put(f"/api/v1/posts/{post['id']}/like", headers=f.headers) for f in fans])
    with app.app_context():
        from economy.ledger import LedgerTransaction

        paid = db.session.scalar(select(func.count()).where(LedgerTransaction.reason_code == "like_received"))
        assert paid == 5
    _invariants(app)


@postgres_only
def test_concurrent_lottery_draws_never_oversell_prizes(app, client, members, forum, frozen_clock):
    from datetime import timedelta

    operator = members.create(role="operator")
    players = [members.create() for _ in range(12)]
    for p in players:
        client.post(
            f"/api/v1/users/{p.id}/points/grants", json={"points": 50, "reason": "play"}, headers=forum.admin.headers
        )
    lottery = client.post(
        "/api/v1/lotteries",
        headers=operator.headers,
        json={
            "name": "rush",
            "cost_points": 10,
            "starts_at": frozen_clock.isoformat(),
            "ends_at": (frozen_clock + timedelta(days=1)).isoformat(),
            "prizes": [{"name": "Rare", "weight": 100, "stock": 3}],
        },
    ).get_json()
    url = f"/api/v1/lotteries/{lottery['id']}/draw"
    jobs = [
        lambda c, p=p, i=i: c.post(url, headers={**p.headers, "Idempotency-Key": f"nonce-{i:04d}"})
        for p in players
        for i in range(5)
    ]
    responses = run_concurrently(app, jobs)
    wins = [r.get_json()["prize"] for r in responses if r.status_code == 201 and r.get_json()["prize"]]
    assert len(wins) == 3
    with app.app_context():
        from economy.lottery import Draw, Prize

        assert db.session.scalar(select(Prize.stock)) == 0
        assert db.session.scalar(select(func.count(Draw.id))) == 60
    _invariants(app)


@postgres_only
def test_concurrent_credits_to_a_new_member_make_one_account_and_cross_each_level_once(app, members):
    """Thirty awards (ten of them sent twice) reach a member with no account yet, all at once: one account is made
    by the first upsert and moved by the rest, each key pays once, and each level crossed is announced once."""
    from economy import events, ledger
    from economy.earning import RuleTerms, apply_rule
    from economy.levels import level_for
    from kernel import clock
    from kernel.outbox import Event

    member = members.create()
    rule = RuleTerms("post_published", 3, 7, None, None, True, "race")  # no caps: no lock before the credit

    def award(key: str):
        def job(_client):
            with app.app_context():
                from forum.members import User

                db.session.get(User, member.id)  # loaded, as an award's beneficiary is
                paid = apply_rule(rule, member.id, key, subject=None, at=clock.now())
                db.session.commit()
                return paid is not None

        return job

    keys = [f"race:{i}" for i in range(30)]
    paid = run_concurrently(app, [award(key) for key in keys + keys[:10]])
    assert sum(paid) == 30
    with app.app_context():
        from economy.ledger import Account
        from forum.members import User

        accounts = db.session.scalars(select(Account).where(Account.user_id == member.id)).all()
        assert len(accounts) == 1 and (accounts[0].balance, accounts[0].contribution) == (90, 210)
        assert db.session.get(User, member.id).level == level_for(210).number == 3
        reached = db.session.scalars(
            select(Event).where(Event.type == events.LEVEL_REACHED.name, Event.actor_id == member.id)
        ).all()
        assert sorted(event.payload["level"] for event in reached) == [2, 3]
        assert ledger.verify() == []
    _invariants(app)
