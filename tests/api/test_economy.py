from datetime import UTC, datetime, timedelta

from kernel import clock


def _points(client, member) -> dict:
    return client.get("/api/v1/me/points", headers=member.headers).get_json()


def _grant(client, forum, member, points, key=None):
    headers = {**forum.admin.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(
        f"/api/v1/users/{member.id}/points/grants", json={"points": points, "reason": "test"}, headers=headers
    )


def test_contributions_earn_points_and_contribution(client, members, forum):
    board = forum.board()
    author, fan = members.create(), members.create()
    post = forum.post(author, board["id"])
    # 10 for the post and 20 for the one-time "first post" task; contribution 10 + 10.
    assert _points(client, author)["balance"] == 30 and _points(client, author)["contribution"] == 20
    forum.reply(fan, post["id"])
    assert _points(client, fan)["balance"] == 2
    url = f"/api/v1/posts/{post['id']}/like"
    for _ in range(3):  # like, unlike, like again: paid once
        client.put(url, headers=fan.headers)
        client.delete(url, headers=fan.headers)
    client.put(url, headers=fan.headers)
    assert _points(client, author)["balance"] == 31
    ledger = client.get("/api/v1/me/points/ledger", headers=author.headers).get_json()["items"]
    assert ledger[0]["reason_code"] == "like_received"
    assert sorted((line["reason_code"], line["amount"]) for line in ledger if line["measure"] == "points") == [
        ("like_received", 1),
        ("post_published", 10),
        ("task:first_post", 20),
    ]


def test_daily_caps_follow_the_rules_operators_set(client, members, forum):
    operator = members.create(role="operator")
    patched = client.patch(
        "/api/v1/economy/rules/post_published", json={"daily_cap": 2, "points": 7}, headers=operator.headers
    )
    assert patched.status_code == 200 and patched.get_json()["daily_cap"] == 2
    member = members.create()
    assert (
        client.patch("/api/v1/economy/rules/post_published", json={"points": 1000}, headers=member.headers).status_code
        == 403
    )
    assert client.patch("/api/v1/economy/rules/nope", json={"points": 1}, headers=operator.headers).status_code == 404
    board = forum.board()
    for i in range(4):
        forum.post(member, board["id"], f"post {i}")
    assert _points(client, member)["balance"] == 2 * 7 + 20 + 30  # two paid, two over the cap; first_post and
    # weekly_posts (2 topics this week) tasks


def test_checkin_streaks_bonus_and_community_day(app, client, members, frozen_clock):
    member = members.create()
    clock.set_now(datetime(2026, 3, 1, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai, 1 March
    first = client.post("/api/v1/me/checkin", headers=member.headers)
    assert first.status_code == 201 and first.get_json()["streak"] == 1 and first.get_json()["day"] == "2026-03-01"
    again = client.post("/api/v1/me/checkin", headers=member.headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_checked_in"
    clock.set_now(datetime(2026, 3, 1, 16, 30, tzinfo=UTC))  # 00:30 in Shanghai: a new community day
    assert client.post("/api/v1/me/checkin", headers=member.headers).get_json()["streak"] == 2
    for day in range(3, 8):
        clock.set_now(datetime(2026, 3, day, 2, 0, tzinfo=UTC))
        result = client.post("/api/v1/me/checkin", headers=member.headers).get_json()
    assert result["streak"] == 7 and result["points_awarded"] == 5 + 20  # 7th day bonus
    clock.set_now(datetime(2026, 3, 9, 2, 0, tzinfo=UTC))  # skipped the 8th
    assert client.post("/api/v1/me/checkin", headers=member.headers).get_json()["streak"] == 1
    status = _points(client, member)["checkin"]
    assert status == {"checked_in_today": True, "streak": 1, "day": "2026-03-09"}
    with app.app_context():  # one event per check-in, the day and streak it announces those of its row
        from sqlalchemy import select

        from kernel.db import db
        from kernel.outbox import Event

        announced = db.session.scalars(
            select(Event).where(Event.type == "checked_in", Event.actor_id == member.id).order_by(Event.id)
        ).all()
        assert [e.payload["streak"] for e in announced] == [1, 2, 3, 4, 5, 6, 7, 1]
        assert [e.payload["day"] for e in announced][:3] == ["2026-03-01", "2026-03-02", "2026-03-03"]


def test_checkin_without_a_streak_bonus(client, members, frozen_clock, settings):
    settings(CHECKIN_BONUS_EVERY=0)  # operators may turn the bonus off: every day pays the rule's points
    member = members.create()
    for day in range(1, 8):
        clock.set_now(datetime(2026, 3, day, 2, 0, tzinfo=UTC))
        result = client.post("/api/v1/me/checkin", headers=member.headers).get_json()
        assert (result["streak"], result["points_awarded"]) == (day, 5), result


def test_tasks_progress_and_rewards(client, members, forum):
    board = forum.board()
    author, replier = members.create(), members.create()
    post = forum.post(author, board["id"])
    for _ in range(2):
        forum.reply(replier, post["id"])
    tasks = {t["code"]: t for t in client.get("/api/v1/me/tasks", headers=replier.headers).get_json()["items"]}
    assert (tasks["daily_replies"]["progress"], tasks["daily_replies"]["target"]) == (2, 3)
    assert not tasks["daily_replies"]["rewarded"]
    forum.reply(replier, post["id"])
    forum.reply(replier, post["id"])
    tasks = {t["code"]: t for t in client.get("/api/v1/me/tasks", headers=replier.headers).get_json()["items"]}
    assert tasks["daily_replies"]["completed"] and tasks["daily_replies"]["rewarded"]
    assert tasks["daily_replies"]["progress"] == 3
    assert _points(client, replier)["balance"] == 4 * 2 + 10  # four replies plus the task, paid once
    author_tasks = {t["code"]: t for t in client.get("/api/v1/me/tasks", headers=author.headers).get_json()["items"]}
    assert author_tasks["first_post"]["rewarded"]


def test_levels_follow_contribution_and_reach_moderation(app, client, members, forum):
    member = members.create()
    operator = members.create(role="operator")
    client.patch("/api/v1/economy/rules/post_published", json={"contribution": 60}, headers=operator.headers)
    forum.post(member, forum.board()["id"])
    points = _points(client, member)
    assert points["level"]["number"] == 2 and points["next_level"]["number"] == 3
    assert points["to_next_level"] == 200 - points["contribution"]
    with app.app_context():
        from forum.members import User
        from kernel.db import db

        assert db.session.get(User, member.id).level == 2
    # Spendable points never move levels: a staff grant adds points, not contribution.
    _grant(client, forum, member, 5000)
    assert _points(client, member)["level"]["number"] == 2
    assert len(client.get("/api/v1/economy/levels").get_json()["items"]) == 10


def test_clawback_on_removal_with_shortfall_and_restore(app, client, members, forum):
    board = forum.board()
    author = members.create()
    fans = [members.create() for _ in range(3)]
    mod = members.create(role="moderator")
    post = forum.post(author, board["id"])
    for fan in fans:
        client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)
    assert _points(client, author)["balance"] == 10 + 3 + 20  # post, likes, first_post task
    operator = members.create(role="operator")
    item = client.post("/api/v1/rewards", json={"name": "Sticker", "price_points": 25}, headers=operator.headers)
    client.post(f"/api/v1/rewards/{item.get_json()['id']}/redeem", json={}, headers=author.headers)
    assert _points(client, author)["balance"] == 8
    hidden = client.post(
        "/api/v1/moderation/actions",
        json={"action": "hide", "target_type": "post", "target_id": post["id"], "reason": "spam"},
        headers=mod.headers,
    )
    assert hidden.status_code == 200
    after = _points(client, author)
    assert after["balance"] == 0  # 13 owed, 8 taken: the shortfall is recorded, the balance never negative
    with app.app_context():
        from sqlalchemy import select

        from economy.ledger import LedgerTransaction, verify
        from kernel.db import db

        clawbacks = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.source == "clawback")).all()
        shortfall = sum(t.details["shortfall"]["points"] for t in clawbacks)
        assert shortfall == 5
        assert verify() == []
    client.post(
        "/api/v1/moderation/actions",
        json={"action": "restore", "target_type": "post", "target_id": post["id"]},
        headers=mod.headers,
    )
    assert _points(client, author)["balance"] == 8  # exactly what was clawed comes back


def test_author_deleting_a_post_gives_its_points_back(client, members, forum):
    member = members.create()
    post = forum.post(member, forum.board()["id"])
    assert _points(client, member)["balance"] == 30
    client.delete(f"/api/v1/posts/{post['id']}", headers=member.headers)
    assert _points(client, member)["balance"] == 20  # the post's 10; the one-time task stays earned


def test_staff_grants_are_audited_and_need_a_reason(client, members, forum):
    member, operator = members.create(), members.create(role="operator")
    assert _grant(client, forum, member, 50, key="grant-key-0001").status_code == 201
    assert _grant(client, forum, member, 50, key="grant-key-0001").get_json()["balance"] == 50  # idempotent
    assert (
        client.post(
            f"/api/v1/users/{member.id}/points/grants", json={"points": 5, "reason": "x"}, headers=member.headers
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/users/{member.id}/points/grants", json={"points": 5}, headers=operator.headers
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/api/v1/users/{operator.id}/points/grants", json={"points": 5, "reason": "me"}, headers=operator.headers
        ).status_code
        == 403
    )
    deduct = client.post(
        f"/api/v1/users/{member.id}/points/grants", json={"points": -80, "reason": "too much"}, headers=operator.headers
    )
    assert deduct.status_code == 409  # cannot take more than the balance
    audit = client.get("/api/v1/moderation/audit?action=points.grant", headers=forum.admin.headers).get_json()
    assert len(audit["items"]) == 1 and audit["items"][0]["details"]["points"] == 50


def test_leaderboards_rank_by_contribution_and_rebuild(app, client, members, forum):
    board = forum.board()
    a, b = members.create(), members.create()
    forum.post(a, board["id"])
    forum.post(b, board["id"])
    forum.post(b, board["id"], "another")
    board_json = client.get("/api/v1/leaderboards/week", headers=a.headers).get_json()
    assert [row["user"]["id"] for row in board_json["items"]] == [b.id, a.id]
    assert board_json["me"]["rank"] == 2 and board_json["source"] == "store"
    before = client.get("/api/v1/leaderboards/all").get_json()["items"]
    assert app.test_cli_runner().invoke(args=["economy", "rebuild-leaderboards"]).exit_code == 0
    assert client.get("/api/v1/leaderboards/all").get_json()["items"] == before
    assert client.get("/api/v1/leaderboards/decade").status_code == 404


def test_leaderboard_falls_back_to_the_ledger_when_the_store_is_down(app, client, members, forum, monkeypatch):
    board = forum.board()
    a = members.create()
    forum.post(a, board["id"])
    from kernel.store import StoreUnavailable

    store = app.extensions["store"]

    def down(*args, **kwargs):
        raise StoreUnavailable("down")

    monkeypatch.setattr(store, "zrevrange", down)
    body = client.get("/api/v1/leaderboards/month").get_json()
    assert body["source"] == "ledger" and body["items"][0]["user"]["id"] == a.id


def test_no_path_turns_money_into_points():
    """Every call that credits a member names a contribution source; nothing named for payment exists."""
    import ast
    import pathlib

    from economy.ledger import CREDIT_SOURCES, Source

    assert not any(word in s.value for s in Source for word in ("pay", "money", "purchase", "order", "buy"))
    root = pathlib.Path(__file__).resolve().parents[2]
    credit_sites = set()
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("credit", "post")
                and getattr(node.func.value, "id", "") == "ledger"
            ):
                source = (
                    node.args[0]
                    if node.func.attr == "post" and node.args
                    else next((k.value for k in node.keywords if k.arg == "source"), None)
                )
                assert isinstance(source, ast.Attribute), (path, node.lineno)
                if node.func.attr == "credit":
                    assert Source[source.attr] in CREDIT_SOURCES, (path, node.lineno)
                    credit_sites.add((path.relative_to(root).as_posix(), source.attr))
    # The complete list of places that can credit a member. A new one must be added here on purpose.
    assert credit_sites == {
        ("economy/earning.py", "RULE"),
        ("economy/tasks.py", "TASK"),
        ("economy/grants.py", "STAFF_GRANT"),
        ("economy/badges.py", "BADGE"),
    }


def test_me_points_for_a_new_member(client, members):
    member = members.create()
    body = _points(client, member)
    assert body["balance"] == 0 and body["level"]["number"] == 1 and body["checkin"]["streak"] == 0
    assert client.get("/api/v1/me/points").status_code == 401


__all__ = ["timedelta"]


def test_leaderboards_rebuild_themselves_after_the_store_forgets(app, client, members, forum):
    author = members.create()
    forum.post(author, forum.board()["id"])
    with app.app_context():
        from kernel.store import current_store

        current_store().flush()  # a restarted process with the in-process store, or a flushed Redis
    assert [r["user"]["id"] for r in client.get("/api/v1/leaderboards/week").get_json()["items"]] == [author.id]


def test_a_check_in_held_back_by_a_cap_says_it_paid_nothing(client, members):
    operator, member = members.create(role="operator"), members.create()
    patched = client.patch("/api/v1/economy/rules/checked_in", json={"daily_cap": 0}, headers=operator.headers)
    assert patched.status_code == 200
    done = client.post("/api/v1/me/checkin", headers=member.headers).get_json()
    assert done["points_awarded"] == 0 and done["balance"] == 0
    assert _points(client, member)["balance"] == 0


def test_a_rule_change_reaches_every_worker(app, client, members, make_app, monkeypatch):
    """Rules are cached in each process; a change made by one worker reaches another once it compares versions."""
    from kernel import catalogue

    other_worker = make_app().test_client()
    operator, member, later = members.create(role="operator"), members.create(), members.create()
    assert other_worker.post("/api/v1/me/checkin", headers=member.headers).get_json()["points_awarded"] == 5
    patched = client.patch("/api/v1/economy/rules/checked_in", json={"points": 9}, headers=operator.headers)
    assert patched.status_code == 200
    monkeypatch.setattr(catalogue, "RECHECK_SECONDS", 0.0)  # instead of waiting out the second between checks
    assert other_worker.post("/api/v1/me/checkin", headers=later.headers).get_json()["points_awarded"] == 9


def test_operators_tune_tasks_and_every_worker_pays_the_new_terms(client, members, forum, make_app, monkeypatch):
    """Tasks are cached in each process like the rules; a change reaches a worker that already holds a copy."""
    from kernel import catalogue
    from tests.support import Forum

    other_worker = make_app().test_client()
    elsewhere = Forum(other_worker, members)
    operator, member, author = members.create(role="operator"), members.create(), members.create()
    listed = {t["code"]: t for t in client.get("/api/v1/economy/tasks", headers=operator.headers).get_json()["items"]}
    assert listed["first_post"]["metric"] == "post_published" and listed["first_post"]["enabled"]
    assert any(
        t["code"] == "first_post" for t in other_worker.get("/api/v1/me/tasks", headers=member.headers).json["items"]
    )

    patched = client.patch(
        "/api/v1/economy/tasks/first_post", json={"points": 77, "title": "首帖"}, headers=operator.headers
    )
    assert patched.status_code == 200 and patched.get_json()["points"] == 77
    monkeypatch.setattr(catalogue, "RECHECK_SECONDS", 0.0)  # instead of waiting out the second between checks
    board = forum.board()
    elsewhere.post(author, board["id"])
    tasks = {t["code"]: t for t in other_worker.get("/api/v1/me/tasks", headers=author.headers).json["items"]}
    assert tasks["first_post"]["title"] == "首帖" and tasks["first_post"]["points"] == 77
    assert tasks["first_post"]["rewarded"]
    lines = other_worker.get("/api/v1/me/points/ledger", headers=author.headers).get_json()["items"]
    assert any(line["reason_code"] == "task:first_post" and line["amount"] == 77 for line in lines)

    switched_off = client.patch(
        "/api/v1/economy/tasks/daily_replies", json={"enabled": False}, headers=operator.headers
    )
    assert switched_off.status_code == 200
    codes = {t["code"] for t in other_worker.get("/api/v1/me/tasks", headers=member.headers).json["items"]}
    assert "daily_replies" not in codes and "first_post" in codes


def test_only_operators_tune_tasks_within_bounds(client, members):
    operator, member = members.create(role="operator"), members.create()
    assert client.get("/api/v1/economy/tasks", headers=member.headers).status_code == 403
    refused = client.patch("/api/v1/economy/tasks/first_post", json={"points": 1}, headers=member.headers)
    assert refused.status_code == 403
    for body in ({"target": 0}, {"points": -1}, {"title": ""}, {"metric": "like_received"}):
        response = client.patch("/api/v1/economy/tasks/first_post", json=body, headers=operator.headers)
        assert response.status_code == 422, body
    missing = client.patch("/api/v1/economy/tasks/no_such", json={"points": 1}, headers=operator.headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "task_not_found"
    listed = {t["code"]: t for t in client.get("/api/v1/economy/tasks", headers=operator.headers).get_json()["items"]}
    assert listed["first_post"]["points"] != 1 and listed["first_post"]["target"] >= 1
