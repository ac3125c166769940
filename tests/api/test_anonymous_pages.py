"""A signed-out reader's repeat of a feed page is answered before Flask, exactly as the view answers it."""

import time
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from forum import feed_cache, view_counts
from forum.posts import Post
from kernel.db import db
from kernel.store import StoreUnavailable, current_store


@pytest.fixture()
def app_calls(app, monkeypatch):
    """The requests that reached the application behind the middleware."""
    middleware = app.wsgi_app  # the feed pages wrap the rest (trusted proxies, then Flask)
    inner, reached = middleware.wsgi_app, []

    def counting(environ, start_response):
        reached.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']}")
        return inner(environ, start_response)

    monkeypatch.setattr(middleware, "wsgi_app", counting)
    return reached


def _headers(response) -> dict:
    return {key: value for key, value in response.headers.items() if key != "X-Request-ID"}


def test_every_feed_address_is_answered_from_the_store_the_second_time(client, members, forum, settings, app_calls):
    settings(FEED_CACHE_SECONDS=30)
    author = members.create()
    board = forum.board()
    forum.post(author, board["id"], "街景")
    for url in (
        "/api/v1/posts?sort=hot&limit=5",
        f"/api/v1/boards/{board['id']}/posts",
        f"/api/v1/users/{author.id}/posts?limit=3",
    ):
        app_calls.clear()
        first = client.get(url, headers={"X-Request-ID": "req-first-0001"})
        again = client.get(url, headers={"X-Request-ID": "req-again-0002"})
        assert app_calls == [f"GET {url if '?' in url else url + '?'}"], url
        assert first.status_code == again.status_code == 200
        assert again.get_data() == first.get_data() and again.get_json()["items"][0]["title"] == "街景"
        assert _headers(again) == _headers(first)
        assert (first.headers["X-Request-ID"], again.headers["X-Request-ID"]) == ("req-first-0001", "req-again-0002")
    anonymous_id = client.get("/api/v1/posts?sort=hot&limit=5", headers={"X-Request-ID": "bad id"})
    assert len(anonymous_id.headers["X-Request-ID"]) == 32  # an unusable id is replaced, as the app does


def test_what_the_store_does_not_answer_reaches_the_application(
    app, client, members, forum, settings, app_calls, monkeypatch
):
    settings(FEED_CACHE_SECONDS=30)
    reader = members.create()
    board = forum.board()
    post = forum.post(members.create(), board["id"], "a post")
    client.get("/api/v1/posts?sort=hot")
    app_calls.clear()
    client.get("/api/v1/posts?sort=hot", headers=reader.headers)  # personal marks: always the application
    client.get("/api/v1/posts?sort=hot", headers={"Authorization": "Bearer ended"})  # and a token must be checked
    client.get("/api/v1/posts?sort=hot&q=post")  # searches are never kept
    client.get("/api/v1/posts?sort=hot&q=post")
    client.get("/api/v1/posts?limit=20&sort=hot")  # another address: built once, then answered from the store
    client.get("/api/v1/posts?limit=20&sort=hot")
    client.get(f"/api/v1/posts/{post['id']}")  # not a feed
    client.head("/api/v1/posts?sort=hot")
    assert app_calls == [
        "GET /api/v1/posts?sort=hot",
        "GET /api/v1/posts?sort=hot",
        "GET /api/v1/posts?sort=hot&q=post",
        "GET /api/v1/posts?sort=hot&q=post",
        "GET /api/v1/posts?limit=20&sort=hot",
        f"GET /api/v1/posts/{post['id']}?",
        "HEAD /api/v1/posts?sort=hot",
    ]
    assert client.get("/api/v1/posts?sort=hot", headers={"Authorization": "Bearer ended"}).status_code == 401

    app_calls.clear()
    settings(FEED_CACHE_SECONDS=0)  # caching turned off: the kept pages are not used either
    client.get("/api/v1/posts?sort=hot")
    settings(FEED_CACHE_SECONDS=30)

    def unavailable(*keys):
        raise StoreUnavailable("down")

    monkeypatch.setattr(app.extensions["store"], "get", unavailable)
    monkeypatch.setattr(app.extensions["store"], "get_many", unavailable)
    later = time.monotonic() + feed_cache.GENERATION_HOLD_SECONDS  # once the generation held here must be read again
    monkeypatch.setattr(feed_cache, "time", SimpleNamespace(time=time.time, monotonic=lambda: later))
    outage = client.get("/api/v1/posts?sort=hot")  # no store: the application answers (and reads the database)
    assert outage.status_code == 200 and outage.get_json()["items"][0]["title"] == "a post"
    assert app_calls == ["GET /api/v1/posts?sort=hot", "GET /api/v1/posts?sort=hot"]


def test_a_page_of_an_older_generation_is_rebuilt(client, members, forum, settings, app_calls):
    settings(FEED_CACHE_SECONDS=300)
    author = members.create()
    board = forum.board()
    forum.post(author, board["id"], "first")
    assert [p["title"] for p in client.get("/api/v1/posts?sort=latest").get_json()["items"]] == ["first"]
    forum.post(author, board["id"], "second")  # a new post starts a new generation
    app_calls.clear()
    titles = [p["title"] for p in client.get("/api/v1/posts?sort=latest").get_json()["items"]]
    assert titles == ["second", "first"] and len(app_calls) == 1


def test_another_workers_change_is_seen_once_the_generation_held_here_runs_out(
    app, client, members, forum, settings, app_calls, monkeypatch
):
    settings(FEED_CACHE_SECONDS=300)
    forum.post(members.create(), forum.board()["id"], "first")
    client.get("/api/v1/posts?sort=latest")
    with app.app_context():
        current_store().set(feed_cache.GENERATION_KEY, "started-by-another-worker")  # e.g. it hid a post
    app_calls.clear()
    client.get("/api/v1/posts?sort=latest")
    assert app_calls == []  # within the hold, the page held here is still served: no store trip at all
    later = time.monotonic() + feed_cache.GENERATION_HOLD_SECONDS
    monkeypatch.setattr(feed_cache, "time", SimpleNamespace(time=time.time, monotonic=lambda: later))
    client.get("/api/v1/posts?sort=latest")
    assert app_calls == ["GET /api/v1/posts?sort=latest"]  # the generation read again: the page is rebuilt
    client.get("/api/v1/posts?sort=latest")
    assert len(app_calls) == 1  # and kept under the new generation


def test_a_page_answered_from_the_store_is_logged_and_measured(client, members, forum, settings, log_lines):
    settings(FEED_CACHE_SECONDS=30)
    forum.post(members.create(), forum.board()["id"])
    client.get("/api/v1/posts?sort=hot")
    labels = {"method": "GET", "route": "/api/v1/posts", "status": "200"}
    before = REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0
    client.get("/api/v1/posts?sort=hot", headers={"X-Request-ID": "req-cached-0001"})
    access = [line for line in log_lines() if line["logger"] == "api.access"]
    assert access[-1]["request_id"] == "req-cached-0001" and access[-1]["cached"] is True
    assert access[-1]["route"] == "/api/v1/posts" and access[-1]["status"] == 200 and "member_id" not in access[-1]
    assert REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) == before + 1


def test_a_page_held_by_a_worker_expires_with_the_stored_one(client, members, forum, settings, app_calls, monkeypatch):
    settings(FEED_CACHE_SECONDS=30)
    forum.post(members.create(), forum.board()["id"])
    app_calls.clear()
    client.get("/api/v1/posts?sort=hot")
    client.get("/api/v1/posts?sort=hot")
    assert len(app_calls) == 1
    later = time.time() + 31
    monkeypatch.setattr(feed_cache, "time", SimpleNamespace(time=lambda: later, monotonic=time.monotonic))
    client.get("/api/v1/posts?sort=hot")
    assert len(app_calls) == 2


def test_a_post_page_is_cached_for_signed_out_readers_and_every_view_counts(
    app, client, members, forum, settings, app_calls
):
    settings(FEED_CACHE_SECONDS=30)
    author, moderator = members.create(), members.create(role="admin")
    post = forum.post(author, forum.board()["id"], "街景")
    url = f"/api/v1/posts/{post['id']}"
    app_calls.clear()
    pages = [client.get(url) for _ in range(view_counts.FLUSH_EVERY + 5)]  # one of them flushes the buffer
    assert app_calls == [f"GET {url}?"]
    assert {page.status_code for page in pages} == {200} and {page.get_data() for page in pages} == {
        pages[0].get_data()
    }
    assert pages[0].get_json()["view_count"] == 1  # as the page was built: it lags like a feed's counters
    with app.app_context():
        assert db.session.get(Post, post["id"]).view_count == view_counts.FLUSH_EVERY  # flushed from the cached path
    assert client.get(url, headers=author.headers).get_json()["view_count"] == len(pages) + 1  # live when signed in
    hide = client.post(
        "/api/v1/moderation/actions",
        json={"action": "hide", "target_type": "post", "target_id": post["id"], "reason": "off topic"},
        headers=moderator.headers,
    )
    assert hide.status_code == 200
    assert client.get(url).status_code == 404  # a hidden post leaves the cache at once
    assert client.get(f"/api/v1/posts/{post['id'] + 1000}").status_code == 404


def test_a_cached_post_page_survives_a_failed_view_count(app, client, members, forum, settings, monkeypatch, log_lines):
    settings(FEED_CACHE_SECONDS=30)
    post = forum.post(members.create(), forum.board()["id"])
    url = f"/api/v1/posts/{post['id']}"
    first = client.get(url)

    def no_store(*args):
        raise StoreUnavailable("down")

    def no_database(post_id):
        raise OperationalError("UPDATE posts", {}, Exception("the database went away"))

    monkeypatch.setattr(app.extensions["store"], "incr_marking", no_store)  # the view goes to the database, which fails
    monkeypatch.setattr(view_counts, "write_through", no_database)
    again = client.get(url)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert any(line["event"] == "cached_page_side_effect_failed" for line in log_lines())


def test_a_query_padded_with_anything_else_files_no_copy(client, members, forum, settings, app_calls):
    settings(FEED_CACHE_SECONDS=30)
    post = forum.post(members.create(), forum.board()["id"])
    app_calls.clear()
    for url, status in (
        ("/api/v1/posts?sort=hot&junk=1", 422),  # a feed refuses what it does not know
        ("/api/v1/posts?sort=hot&sort=hot", 200),
        (f"/api/v1/posts/{post['id']}?junk=1", 200),  # a post ignores its query: the page is shown, not kept
    ):
        assert [client.get(url).status_code for _ in range(2)] == [status, status], url
    assert len(app_calls) == 6  # answered every time, kept never
