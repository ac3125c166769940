def test_feed_pages_are_cached_briefly_but_viewer_fields_are_personal(app, client, members, forum, settings):
    settings(FEED_CACHE_SECONDS=30)
    board = forum.board()
    author, fan = members.create(), members.create()
    first = forum.post(author, board["id"], "first post")
    client.put(f"/api/v1/posts/{first['id']}/like", headers=fan.headers)
    anonymous = client.get("/api/v1/posts?sort=hot").get_json()
    assert [p["title"] for p in anonymous["items"]] == ["first post"] and anonymous["items"][0]["viewer"] is None
    forum.post(author, board["id"], "second post")
    cached = client.get("/api/v1/posts?sort=hot").get_json()
    assert [p["title"] for p in cached["items"]] == ["first post"]  # served from the cache until it expires
    mine = client.get("/api/v1/posts?sort=hot", headers=fan.headers).get_json()
    assert mine["items"][0]["viewer"] == {"liked": True, "favorited": False}  # flags are never cached
    theirs = client.get("/api/v1/posts?sort=hot", headers=author.headers).get_json()
    assert theirs["items"][0]["viewer"] == {"liked": False, "favorited": False}
    fresh = client.get("/api/v1/posts?sort=hot&q=post").get_json()  # searches skip the cache
    assert len(fresh["items"]) == 2
    with app.app_context():
        from kernel.store import current_store

        current_store().flush()
    assert len(client.get("/api/v1/posts?sort=hot").get_json()["items"]) == 2
