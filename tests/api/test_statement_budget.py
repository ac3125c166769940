"""How many SQL statements the hot requests run: writes until their unit of work commits (reactions run after,
on the workers in production), reads in a number that does not grow with the page size."""

import contextlib
import functools
from datetime import timedelta

from sqlalchemy import event, update

from c2b.ideas import Idea
from forum.members import User
from kernel.db import db
from moderation import limits
from tests.api.test_badges import _badge
from tests.api.test_ideas import _published
from tests.support import statements

# Ceilings, measured on each database: a change that adds statements to a hot path has to say so here. PostgreSQL
# writes a check-in's row with its event, a credit, and a support with its event and count, each as one statement
# (data-modifying CTEs, which SQLite does not have).
WRITE_BUDGET = {
    "postgresql": {"check-in": 3, "reply": 7, "like": 5, "support": 3},
    "sqlite": {"check-in": 6, "reply": 7, "like": 5, "support": 5},
}
READ_BUDGET = {"feed": 3, "post": 3, "ideas": 4}


SAVEPOINTS = ("SAVEPOINT", "RELEASE", "ROLLBACK TO")


def _count(app, call, *, until_commit: bool) -> int:
    """Statements up to the commit; the hot paths take no savepoints (each would be two more round trips)."""
    with statements(app, until_commit=until_commit) as seen:
        response = call()
    assert response.status_code < 300, response.get_json()
    savepoints = [s for s in seen if s.lstrip().upper().startswith(SAVEPOINTS)]
    assert not savepoints, savepoints
    return len(seen)


def test_hot_writes_stay_within_their_statement_budget(app, client, members, forum, png_bytes):
    board = forum.board()
    author, fan = members.create(), members.create()
    post = forum.post(author, board["id"])
    client.post("/api/v1/me/checkin", headers=fan.headers)  # the first of anything warms caches; measure the next
    idea, _ = _published(client, members, png_bytes)
    other = members.create()
    measured = {
        "check-in": _count(app, lambda: client.post("/api/v1/me/checkin", headers=other.headers), until_commit=True),
        "reply": _count(
            app,
            lambda: client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "写得真好"}, headers=fan.headers),
            until_commit=True,
        ),
        "like": _count(
            app, lambda: client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers), until_commit=True
        ),
        "support": _count(
            app,
            lambda: client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=fan.headers),
            until_commit=True,
        ),
    }
    with app.app_context():
        budget = WRITE_BUDGET[db.engine.dialect.name]
    over = {path: count for path, count in measured.items() if count > budget[path]}
    assert not over, f"over budget: {over} (budget {budget})"


def test_a_feed_page_and_a_post_read_in_a_bounded_number_of_statements(app, client, members, forum):
    board = forum.board()
    author, reader = members.create(), members.create()
    posts = [forum.post(author, board["id"], title=f"帖子 {n}") for n in range(25)]
    small = _count(
        app, lambda: client.get("/api/v1/posts?sort=hot&limit=5", headers=reader.headers), until_commit=False
    )
    large = _count(
        app, lambda: client.get("/api/v1/posts?sort=hot&limit=25", headers=reader.headers), until_commit=False
    )
    assert small == large <= READ_BUDGET["feed"], (small, large)
    one = _count(app, lambda: client.get(f"/api/v1/posts/{posts[0]['id']}", headers=reader.headers), until_commit=False)
    assert one <= READ_BUDGET["post"], one


def test_a_cached_page_for_a_signed_out_reader_never_reaches_the_database(app, client, members, forum, settings):
    settings(FEED_CACHE_SECONDS=30)
    board = forum.board()
    forum.post(members.create(), board["id"])
    first = client.get("/api/v1/posts?sort=hot")  # builds and keeps the page
    with app.app_context():
        engine = db.engine
    checkouts: list[object] = []
    record = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(engine, "checkout", record)
    try:
        again = client.get("/api/v1/posts?sort=hot")
    finally:
        event.remove(engine, "checkout", record)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert checkouts == []  # no statement, and no COMMIT either


def test_a_limited_action_is_counted_after_its_commit_without_reading_the_member(app, members, settings):
    settings(ACTION_LIMITS_ENABLED=True)
    member = members.create()
    with app.test_request_context():
        user = db.session.get(User, member.id)
        allowance = limits.allowance("like", user)
        db.session.commit()  # as the action's unit of work does: the member's row is expired
        with statements(app, until_commit=False) as seen:
            limits.consume(allowance)
        assert seen == []  # the allowance was settled before: no refresh of the member
        assert allowance.items  # and it does count (limits are on, the member is not staff)


def _in_autocommit(dbapi_connection) -> bool:
    """psycopg says so itself; Python's sqlite3 connection is in autocommit when it has no isolation level."""
    flag = getattr(dbapi_connection, "autocommit", None)
    return flag if isinstance(flag, bool) else dbapi_connection.isolation_level is None


@contextlib.contextmanager
def _statement_modes(app):
    """(statement, ran in autocommit) for each statement sent inside the block."""
    with app.app_context():
        engine = db.engine
    modes: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        modes.append((statement, _in_autocommit(cursor.connection)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield modes
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_signed_out_feed_page_reads_without_a_transaction_and_writes_keep_theirs(app, client, members, forum):
    board = forum.board()
    author, fan = members.create(), members.create()
    post = forum.post(author, board["id"])
    with _statement_modes(app) as modes:
        for address in (
            "/api/v1/posts?sort=hot",
            f"/api/v1/boards/{board['id']}/posts",
            f"/api/v1/users/{author.id}/posts",
        ):
            assert client.get(address).status_code == 200
        read = list(modes)
        modes.clear()
        # The connection goes back to the pool as it came: the next write on it is one transaction again.
        assert client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers).status_code == 200
        assert client.get("/api/v1/posts?sort=hot", headers=fan.headers).status_code == 200
    assert read and all(autocommit for _, autocommit in read), read
    # A signed-in reader's session was checked first, in a transaction the page then joins.
    assert modes and not any(autocommit for _, autocommit in modes), modes


def test_the_health_check_reads_the_database_without_a_transaction(app, client):
    """Nothing to roll back: psycopg answers a rollback by forgetting the connection's prepared statements."""
    with _statement_modes(app) as modes:
        assert client.get("/api/v1/health").status_code == 200
    assert modes == [("SELECT 1", True)], modes


def test_hot_writes_read_nothing_after_their_commit(app, client, members, forum, png_bytes, monkeypatch):
    """What the answer shows is read inside the unit of work: an entity left for the response schema would be
    expired by the commit and read again, one more statement (and transaction) per request. Reactions are handed
    to a dispatcher here, as to the workers in production, so every statement counted is the request's own."""
    board = forum.board()
    author, fan = members.create(), members.create()
    post = forum.post(author, board["id"])
    client.post("/api/v1/me/checkin", headers=fan.headers)
    idea, _ = _published(client, members, png_bytes)
    other = members.create()
    monkeypatch.setitem(app.config, "EVENTS_INLINE", False)
    monkeypatch.setitem(app.extensions, "event_dispatcher", lambda event_ids: None)
    calls = {
        "check-in": lambda: client.post("/api/v1/me/checkin", headers=other.headers),
        "reply": lambda: client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "好"}, headers=fan.headers),
        "like": lambda: client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers),
        "support": lambda: client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=fan.headers),
    }
    for path, call in calls.items():
        with statements(app, until_commit=False) as everything, statements(app, until_commit=True) as committed:
            assert call().status_code < 300, path
        assert everything == committed, (path, everything[len(committed) :])


def test_a_page_of_ideas_reads_in_a_bounded_number_of_statements(app, client, members, png_bytes):
    reader = members.create()
    published = [_published(client, members, png_bytes)[0] for _ in range(6)]
    for idea in published[::2]:
        supported = client.put(f"/api/v1/ideas/{idea['id']}/support", json={"would_buy": 1}, headers=reader.headers)
        assert supported.status_code == 200, supported.get_json()
    counts = {}
    for headers in ({}, reader.headers):
        for limit in (2, 6):
            address = f"/api/v1/ideas?sort=newest&limit={limit}"
            call = functools.partial(client.get, address, headers=headers)
            counts[(bool(headers), limit)] = _count(app, call, until_commit=False)
    for limit in (2, 3):  # the reader supports three of them
        call = functools.partial(client.get, f"/api/v1/me/supports?limit={limit}", headers=reader.headers)
        counts[("mine", limit)] = _count(app, call, until_commit=False)
    assert len({counts[(False, 2)], counts[(False, 6)]}) == 1, counts
    assert len({counts[(True, 2)], counts[(True, 6)]}) == len({counts[("mine", 2)], counts[("mine", 3)]}) == 1, counts
    assert max(counts.values()) <= READ_BUDGET["ideas"], counts
    page = client.get("/api/v1/ideas?sort=newest&limit=6", headers=reader.headers).get_json()["items"]
    supported_ids = {idea["id"] for idea in published[::2]}
    assert {i["id"] for i in page if i["viewer"]["supported"]} == supported_ids
    assert all(len(i["images"]) == 1 for i in page)
    mine = client.get("/api/v1/me/supports?limit=3", headers=reader.headers).get_json()["items"]
    assert {m["idea"]["id"] for m in mine} == supported_ids and all(m["idea"]["viewer"]["supported"] for m in mine)
    assert all(m["would_buy"] == 1 and len(m["idea"]["images"]) == 1 for m in mine)


def test_the_review_queue_reads_its_subjects_once_per_kind(app, client, members, forum):
    operator, mod = members.create(role="operator"), members.create(role="moderator")
    listed = client.put(
        "/api/v1/moderation/words", json={"items": [{"word": "代购", "action": "review"}]}, headers=operator.headers
    )
    assert listed.status_code == 200, listed.get_json()
    board, author = forum.board(), members.create()
    topic = forum.post(author, board["id"], "正常的帖子", "x")
    for n in range(3):
        forum.post(author, board["id"], f"代购{n}", "x")
        forum.reply(author, topic["id"], f"代购回复{n}")
    counts = {}
    for limit in (2, 6):
        call = functools.partial(client.get, f"/api/v1/moderation/queue?limit={limit}", headers=mod.headers)
        counts[limit] = _count(app, call, until_commit=False)
    assert counts[2] == counts[6], counts
    items = client.get("/api/v1/moderation/queue?limit=6", headers=mod.headers).get_json()["items"]
    shown = sorted((i["subject_type"], i["subject"]["title"] or i["subject"]["excerpt"]) for i in items)
    assert shown == [("post", f"代购{n}") for n in range(3)] + [("reply", f"代购回复{n}") for n in range(3)]
    assert all(i["subject"]["post_id"] for i in items)


def test_polls_and_presales_read_the_same_statements_for_one_or_many(app, client, members, png_bytes, frozen_clock):
    product, voter = members.create(role="product"), members.create()
    upload = client.post(
        "/api/v1/media",
        data={"file": (png_bytes(), "a.png")},
        headers=product.headers,
        content_type="multipart/form-data",
    ).get_json()
    counts: dict[tuple[str, int], int] = {}
    made = []
    for n in range(3):
        idea = _published(client, members, png_bytes)[0]
        with app.app_context():  # as a product team's decision would leave it
            db.session.execute(update(Idea).where(Idea.id == idea["id"]).values(status="approved"))
            db.session.commit()
        poll = client.post(
            "/api/v1/polls",
            json={
                "title": f"样品投票 {n}",
                "closes_at": (frozen_clock + timedelta(days=3)).isoformat(),
                "options": [{"name": "A", "image_id": upload["id"]}, {"name": "B"}],
            },
            headers=product.headers,
        ).get_json()
        voted = client.post(
            f"/api/v1/polls/{poll['id']}/vote", json={"option_id": poll["options"][0]["id"]}, headers=voter.headers
        )
        assert voted.status_code == 200, voted.get_json()
        campaign = client.post(
            "/api/v1/presales",
            json={
                "title": f"预售 {n}",
                "idea_id": idea["id"],
                "unit_price_cents": 9900,
                "moq": 1,
                "opens_at": frozen_clock.isoformat(),
                "closes_at": (frozen_clock + timedelta(days=7)).isoformat(),
                "options": [{"sku": f"SKU-{n}", "name": "一款"}],
            },
            headers=product.headers,
        )
        assert campaign.status_code == 201, campaign.get_json()
        client.post(
            f"/api/v1/presales/{campaign.get_json()['id']}/state", json={"state": "published"}, headers=product.headers
        )
        made.append((idea, poll))
        if n in (0, 2):
            for path in ("polls", "presales"):
                call = functools.partial(client.get, f"/api/v1/{path}", headers=voter.headers)
                counts[(path, n + 1)] = _count(app, call, until_commit=False)
    assert counts[("polls", 1)] == counts[("polls", 3)] and counts[("presales", 1)] == counts[("presales", 3)], counts
    shown = client.get("/api/v1/polls", headers=voter.headers).get_json()["items"]
    assert all(p["my_vote"] == p["options"][0]["id"] and p["options"][0]["image"]["id"] == upload["id"] for p in shown)
    assert all(p["options"][1]["image"] is None for p in shown)
    credits = [c["creator"] for c in client.get("/api/v1/presales").get_json()["items"]]
    assert sorted(c["idea_id"] for c in credits) == sorted(idea["id"] for idea, _ in made)
    assert all(c["display_name"] for c in credits)


def test_a_page_of_floors_brings_its_authors_badges_in_its_own_statement(app, client, members, forum):
    operator, reader = members.create(role="operator"), members.create()
    post = forum.post(members.create(), forum.board()["id"])
    badge = _badge(client, operator, slug="helper", name="热心", tier="gold", rule_metric=None, rule_threshold=None)
    repliers = [members.create() for _ in range(4)]
    for n, member in enumerate(repliers):
        if n % 2 == 0:
            awarded = client.post(
                f"/api/v1/badges/{badge['id']}/awards",
                json={"user_id": member.id, "reason": "热心"},
                headers=operator.headers,
            )
            assert awarded.status_code == 201, awarded.get_json()
            client.put("/api/v1/me/badges/showcase", json={"badge_ids": [badge["id"]]}, headers=member.headers)
        forum.reply(member, post["id"], f"第 {n} 楼")
    counts = {}
    for headers in ({}, reader.headers):
        for limit in (1, 4):
            call = functools.partial(client.get, f"/api/v1/posts/{post['id']}/replies?limit={limit}", headers=headers)
            counts[(bool(headers), limit)] = _count(app, call, until_commit=False)
    assert counts[(False, 1)] == counts[(False, 4)] <= 2 and counts[(True, 1)] == counts[(True, 4)] <= 4, counts
    floors = client.get(f"/api/v1/posts/{post['id']}/replies?limit=2").get_json()
    assert [[b["slug"] for b in f["author"]["showcase"]] for f in floors["items"]] == [["helper"], []]
    rest = client.get(f"/api/v1/posts/{post['id']}/replies?limit=2&cursor={floors['next_cursor']}").get_json()
    assert [f["body"] for f in rest["items"]] == ["第 2 楼", "第 3 楼"] and rest["next_cursor"] is None
