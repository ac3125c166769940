import time
from types import SimpleNamespace

from forum import feed_cache


def test_feed_pages_are_cached_briefly_but_viewer_fields_are_personal(
    app, client, members, forum, settings, monkeypatch
):
    settings(FEED_CACHE_SECONDS=30)
    board = forum.board()
    author, fan, other = members.create(), members.create(), members.create()
    first = forum.post(author, board["id"], "first post")
    client.put(f"/api/v1/posts/{first['id']}/like", headers=fan.headers)
    anonymous = client.get("/api/v1/posts?sort=hot").get_json()
    assert [p["title"] for p in anonymous["items"]] == ["first post"] and anonymous["items"][0]["viewer"] is None
    assert anonymous["items"][0]["like_count"] == 1
    client.put(f"/api/v1/posts/{first['id']}/like", headers=other.headers)
    cached = client.get("/api/v1/posts?sort=hot").get_json()
    assert cached["items"][0]["like_count"] == 1  # counters are served from the cache until it expires
    mine = client.get("/api/v1/posts?sort=hot", headers=fan.headers).get_json()
    assert mine["items"][0]["viewer"] == {"liked": True, "favorited": False}  # flags are never cached
    theirs = client.get("/api/v1/posts?sort=hot", headers=author.headers).get_json()
    assert theirs["items"][0]["viewer"] == {"liked": False, "favorited": False}
    fresh = client.get("/api/v1/posts?sort=hot&q=first").get_json()  # searches skip the cache
    assert fresh["items"][0]["like_count"] == 2
    with app.app_context():
        from kernel.store import current_store

        current_store().flush()  # e.g. Redis restarted: a worker reads the generation again once its hold runs out
    monkeypatch.setattr(feed_cache, "time", SimpleNamespace(time=time.time, monotonic=lambda: time.monotonic() + 1))
    assert client.get("/api/v1/posts?sort=hot").get_json()["items"][0]["like_count"] == 2


def test_a_hidden_post_leaves_every_cached_feed_at_once(client, members, forum, settings):
    settings(FEED_CACHE_SECONDS=300)
    board = forum.board()
    author, moderator = members.create(), members.create(role="admin")
    kept = forum.post(author, board["id"], "kept post")
    hidden = forum.post(author, board["id"], "post to hide")
    feeds = ("/api/v1/posts?sort=hot", "/api/v1/posts?sort=latest", f"/api/v1/boards/{board['id']}/posts")
    for url in feeds:  # every page is now cached with both posts
        assert {p["id"] for p in client.get(url).get_json()["items"]} == {kept["id"], hidden["id"]}
    action = client.post(
        "/api/v1/moderation/actions",
        json={"action": "hide", "target_type": "post", "target_id": hidden["id"], "reason": "off topic"},
        headers=moderator.headers,
    )
    assert action.status_code == 200, action.get_json()
    for url in feeds:
        assert [p["id"] for p in client.get(url).get_json()["items"]] == [kept["id"]], url
