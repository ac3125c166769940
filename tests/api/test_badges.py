import threading

from sqlalchemy import func, select

from kernel.db import db
from tests.conftest import postgres_only


def _badge(client, operator, **fields):
    body = {
        "slug": "first-post",
        "name": "初来乍到",
        "tier": "bronze",
        "rule_metric": "post_published",
        "rule_threshold": 1,
        **fields,
    }
    response = client.post("/api/v1/badges", json=body, headers=operator.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _earned(client, member):
    body = client.get(f"/api/v1/users/{member.id}/badges", headers=member.headers).get_json()
    return sorted((a["badge"]["slug"], a["sequence"]) for a in body["earned"])


def test_rule_badges_are_awarded_live_once_with_reward(client, members, forum):
    operator = members.create(role="operator")
    _badge(client, operator, reward_points=15)
    _badge(
        client, operator, slug="liked-twice", name="人气", tier="silver", rule_metric="like_received", rule_threshold=2
    )
    _badge(
        client,
        operator,
        slug="prolific",
        name="高产",
        tier="gold",
        rule_metric="post_published",
        rule_threshold=2,
        repeatable=True,
    )
    board = forum.board()
    author, fans = members.create(), [members.create() for _ in range(2)]
    post = forum.post(author, board["id"])
    assert _earned(client, author) == [("first-post", 1)]
    forum.post(author, board["id"], "second")
    for fan in fans:
        client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)
        client.delete(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)
        client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)  # toggling counts once
    for i in range(2):
        forum.post(author, board["id"], f"more {i}")
    assert _earned(client, author) == [("first-post", 1), ("liked-twice", 1), ("prolific", 1), ("prolific", 2)]
    ledger = client.get("/api/v1/me/points/ledger", headers=author.headers).get_json()["items"]
    assert [line["amount"] for line in ledger if line["reason_code"] == "badge:first-post"] == [
        15,
    ]


def test_streak_and_level_badges(client, members, forum, frozen_clock):
    from datetime import timedelta

    from kernel import clock

    operator = members.create(role="operator")
    _badge(client, operator, slug="streak-3", name="坚持", rule_metric="checkin_streak", rule_threshold=3)
    _badge(client, operator, slug="level-2", name="升级", rule_metric="level", rule_threshold=2)
    member = members.create()
    for _ in range(3):
        client.post("/api/v1/me/checkin", headers=member.headers)
        clock.advance(timedelta(days=1))
    assert ("streak-3", 1) in _earned(client, member)
    client.patch("/api/v1/economy/rules/post_published", json={"contribution": 60}, headers=operator.headers)
    forum.post(member, forum.board()["id"])
    assert ("level-2", 1) in _earned(client, member)


def test_progress_is_private_and_showcase_is_public(client, members, forum):
    operator = members.create(role="operator")
    first = _badge(client, operator)
    _badge(client, operator, slug="ten-replies", name="话痨", rule_metric="reply_created", rule_threshold=10)
    member, stranger = members.create(), members.create()
    post = forum.post(member, forum.board()["id"])
    for _ in range(3):
        forum.reply(member, post["id"])
    mine = client.get(f"/api/v1/users/{member.id}/badges", headers=member.headers).get_json()
    assert [(p["badge"]["slug"], p["current"], p["target"]) for p in mine["progress"]] == [("ten-replies", 3, 10)]
    theirs = client.get(f"/api/v1/users/{member.id}/badges", headers=stranger.headers).get_json()
    assert theirs["progress"] is None and len(theirs["earned"]) == 1
    refused = client.put("/api/v1/me/badges/showcase", json={"badge_ids": [first["id"] + 1]}, headers=member.headers)
    assert refused.status_code == 422
    too_many = client.put("/api/v1/me/badges/showcase", json={"badge_ids": [1, 2, 3, 4]}, headers=member.headers)
    assert too_many.status_code == 422
    pinned = client.put("/api/v1/me/badges/showcase", json={"badge_ids": [first["id"]]}, headers=member.headers)
    assert [b["slug"] for b in pinned.get_json()["items"]] == ["first-post"]
    assert [b["slug"] for b in client.get(f"/api/v1/users/{member.id}").get_json()["showcase"]] == ["first-post"]
    shown = client.get(f"/api/v1/posts/{post['id']}").get_json()["author"]["showcase"]
    assert [b["slug"] for b in shown] == ["first-post"]
    listed = client.get(f"/api/v1/posts/{post['id']}/replies").get_json()["items"][0]["author"]["showcase"]
    assert [b["slug"] for b in listed] == ["first-post"]


def test_rarity_is_the_share_of_members_holding_a_badge(client, members, forum):
    operator = members.create(role="operator")
    _badge(client, operator)
    board = forum.board()
    posters = [members.create() for _ in range(2)]
    for p in posters:
        forum.post(p, board["id"])
    total = 1 + 2 + 1  # operator, posters, and the forum admin
    catalogue = client.get("/api/v1/badges").get_json()["items"]
    assert catalogue[0]["rarity"] == round(2 / total, 4)


def test_manual_awards_and_revocations_are_audited(client, members, forum):
    operator, member = members.create(role="operator"), members.create()
    badge = _badge(client, operator, slug="helper", name="热心", rule_metric=None, rule_threshold=None)
    url = f"/api/v1/badges/{badge['id']}/awards"
    assert client.post(url, json={"user_id": member.id, "reason": "x"}, headers=member.headers).status_code == 403
    assert client.post(url, json={"user_id": member.id}, headers=operator.headers).status_code == 422
    award = client.post(url, json={"user_id": member.id, "reason": "helped newcomers"}, headers=operator.headers)
    assert award.status_code == 201
    assert client.post(url, json={"user_id": member.id, "reason": "again"}, headers=operator.headers).status_code == 409
    client.put("/api/v1/me/badges/showcase", json={"badge_ids": [badge["id"]]}, headers=member.headers)
    revoked = client.post(
        f"/api/v1/badges/awards/{award.get_json()['id']}/revoke", json={"reason": "mistake"}, headers=operator.headers
    )
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert _earned(client, member) == []
    assert client.get(f"/api/v1/users/{member.id}").get_json()["showcase"] == []
    actions = [
        e["action"] for e in client.get("/api/v1/moderation/audit", headers=forum.admin.headers).get_json()["items"]
    ]
    assert {"badge.create", "badge.award", "badge.revoke"} <= set(actions)


def test_backfill_awards_exactly_what_live_awarding_would(app, client, members, forum):
    """Two identical histories: one with the badge in place (live), one where it arrives later (backfill)."""
    operator = members.create(role="operator")
    board = forum.board()
    live_author, late_author = members.create(), members.create()
    _badge(client, operator, slug="prolific", rule_threshold=2, repeatable=True, name="高产")
    for i in range(5):
        forum.post(live_author, board["id"], f"live {i}")
    client.patch("/api/v1/badges/1", json={"enabled": False}, headers=operator.headers)
    for i in range(5):
        forum.post(late_author, board["id"], f"late {i}")
    assert _earned(client, late_author) == []
    client.patch("/api/v1/badges/1", json={"enabled": True}, headers=operator.headers)
    result = app.test_cli_runner().invoke(args=["badges", "backfill"])
    assert result.exit_code == 0 and "awarded 2 badge(s)" in result.output
    assert _earned(client, late_author) == _earned(client, live_author) == [("prolific", 1), ("prolific", 2)]
    assert "awarded 0 badge(s)" in app.test_cli_runner().invoke(args=["badges", "backfill"]).output


def test_badge_validation(client, members):
    operator = members.create(role="operator")
    _badge(client, operator)
    dup = client.post(
        "/api/v1/badges", json={"slug": "first-post", "name": "x", "tier": "gold"}, headers=operator.headers
    )
    assert dup.status_code == 409
    half_rule = client.post(
        "/api/v1/badges",
        json={"slug": "half", "name": "x", "tier": "gold", "rule_metric": "level"},
        headers=operator.headers,
    )
    assert half_rule.status_code == 422
    assert client.patch("/api/v1/badges/999", json={"name": "x"}, headers=operator.headers).status_code == 404


@postgres_only
def test_two_events_at_once_award_one_badge(app, client, members, forum):
    operator = members.create(role="operator")
    _badge(client, operator, slug="liked", rule_metric="like_received", rule_threshold=1, reward_points=5, name="被赞")
    author = members.create()
    post = forum.post(author, forum.board()["id"])
    fans = [members.create() for _ in range(12)]
    barrier = threading.Barrier(len(fans))

    def like(fan):
        c = app.test_client()
        barrier.wait()
        c.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)

    threads = [threading.Thread(target=like, args=(f,)) for f in fans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with app.app_context():
        from economy.badges import BadgeAward
        from economy.ledger import LedgerTransaction, verify

        assert db.session.scalar(select(func.count(BadgeAward.id))) == 1
        assert db.session.scalar(select(func.count()).where(LedgerTransaction.reason_code == "badge:liked")) == 1
        assert verify() == []


def test_backfill_is_set_based_and_reports_progress(app, client, members, forum, monkeypatch):
    from sqlalchemy import event

    from economy import badges
    from kernel import progress
    from kernel.db import db

    operator = members.create(role="operator")
    board = forum.board()
    _badge(client, operator, slug="poster", rule_threshold=1, name="发帖者")
    client.patch("/api/v1/badges/1", json={"enabled": False}, headers=operator.headers)
    authors = [members.create() for _ in range(5)]
    for author in authors:
        forum.post(author, board["id"])
    client.patch("/api/v1/badges/1", json={"enabled": True}, headers=operator.headers)
    monkeypatch.setattr(badges, "BACKFILL_BATCH", 2)
    reports: list[tuple[str, int, int]] = []
    reads: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            with progress.reporting_to(lambda what, done, total: reports.append((what, done, total))):
                awarded = badges.backfill()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert awarded == 5 and all(_earned(client, a) == [("poster", 1)] for a in authors)
    assert reports == [("badge poster", 0, 5), ("badge poster", 2, 5), ("badge poster", 4, 5), ("badge poster", 5, 5)]
    # Reading who qualifies costs the same for 5 members as for 20,000: the rest are the awards' own writes.
    assert sum("activity_counters" in s for s in reads) == 1


def test_a_badge_change_reaches_every_worker(client, members, forum, make_app, monkeypatch):
    """Rule badges are cached in each process; creating or switching one off reaches a worker holding a copy."""
    from kernel import catalogue
    from tests.support import Forum

    other_worker = make_app().test_client()
    elsewhere = Forum(other_worker, members)
    operator, early, late, later = (
        members.create(role="operator"),
        members.create(),
        members.create(),
        members.create(),
    )
    board = forum.board()
    elsewhere.post(early, board["id"])  # the other worker reads the catalogue: no rule badges yet
    assert _earned(other_worker, early) == []

    badge = _badge(client, operator)
    monkeypatch.setattr(catalogue, "RECHECK_SECONDS", 0.0)  # instead of waiting out the second between checks
    elsewhere.post(late, board["id"])
    assert _earned(other_worker, late) == [("first-post", 1)]

    switched_off = client.patch(f"/api/v1/badges/{badge['id']}", json={"enabled": False}, headers=operator.headers)
    assert switched_off.status_code == 200
    elsewhere.post(later, board["id"])
    assert _earned(other_worker, later) == []
