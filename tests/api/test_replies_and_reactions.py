def test_floors_are_sequential_and_survive_deletions(client, members, forum):
    board = forum.board()
    author, a, b = members.create(), members.create(), members.create()
    post = forum.post(author, board["id"])
    floors = [forum.reply(m, post["id"], f"reply {i}")["floor"] for i, m in enumerate((a, b, a))]
    assert floors == [1, 2, 3]
    second = client.get(f"/api/v1/posts/{post['id']}/replies").get_json()["items"][1]
    assert client.delete(f"/api/v1/replies/{second['id']}", headers=b.headers).status_code == 204
    assert forum.reply(b, post["id"], "after the deletion")["floor"] == 4
    listed = client.get(f"/api/v1/posts/{post['id']}/replies").get_json()["items"]
    assert [r["floor"] for r in listed] == [1, 2, 3, 4]
    tombstone = listed[1]
    assert tombstone["status"] == "deleted" and tombstone["body"] is None and tombstone["author"] is None
    assert client.get(f"/api/v1/posts/{post['id']}").get_json()["reply_count"] == 3


def test_reply_pagination_in_floor_order(client, members, forum):
    board = forum.board()
    author = members.create()
    post = forum.post(author, board["id"])
    for i in range(5):
        forum.reply(author, post["id"], f"r{i}")
    first = client.get(f"/api/v1/posts/{post['id']}/replies?limit=2").get_json()
    second = client.get(f"/api/v1/posts/{post['id']}/replies?limit=2&cursor={first['next_cursor']}").get_json()
    third = client.get(f"/api/v1/posts/{post['id']}/replies?limit=2&cursor={second['next_cursor']}").get_json()
    assert [r["floor"] for r in first["items"] + second["items"] + third["items"]] == [1, 2, 3, 4, 5]
    assert third["next_cursor"] is None


def test_quotes_and_edits_are_checked(client, members, forum):
    board = forum.board()
    author, other = members.create(), members.create()
    post, elsewhere = forum.post(author, board["id"]), forum.post(author, board["id"])
    quoted = forum.reply(other, post["id"], "original words")
    foreign = forum.reply(other, elsewhere["id"], "another thread")
    reply = forum.reply(author, post["id"], "answering", quote_reply_id=quoted["id"])
    assert reply["quote"]["floor"] == 1 and reply["quote"]["excerpt"] == "original words"
    bad = client.post(
        f"/api/v1/posts/{post['id']}/replies",
        json={"body": "x", "quote_reply_id": foreign["id"]},
        headers=author.headers,
    )
    assert bad.status_code == 422
    url = f"/api/v1/replies/{quoted['id']}"
    assert client.patch(url, json={"body": "hijack"}, headers=author.headers).status_code == 403
    assert client.delete(url, headers=author.headers).status_code == 403
    assert client.patch(url, json={"body": "edited"}, headers=other.headers).get_json()["body"] == "edited"
    assert client.post("/api/v1/posts/99999/replies", json={"body": "x"}, headers=author.headers).status_code == 404


def test_locked_posts_refuse_replies_from_members(app, client, members, forum):
    board = forum.board()
    author = members.create()
    post = forum.post(author, board["id"])
    with app.app_context():
        from forum.posts import Post
        from kernel.db import db

        db.session.get(Post, post["id"]).locked = True
        db.session.commit()
    response = client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "x"}, headers=author.headers)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "post_locked"
    assert client.patch(f"/api/v1/posts/{post['id']}", json={"body": "x"}, headers=author.headers).status_code == 409
    global_mod = members.create(role="moderator")
    assert (
        client.post(
            f"/api/v1/posts/{post['id']}/replies", json={"body": "mod note"}, headers=global_mod.headers
        ).status_code
        == 201
    )


def test_likes_are_idempotent_exact_and_not_on_your_own_content(client, members, forum):
    board = forum.board()
    author, fan, fan2 = members.create(), members.create(), members.create()
    post = forum.post(author, board["id"])
    url = f"/api/v1/posts/{post['id']}/like"
    assert client.put(url, headers=fan.headers).get_json() == {"liked": True, "like_count": 1}
    assert client.put(url, headers=fan.headers).get_json() == {"liked": True, "like_count": 1}
    assert client.put(url, headers=fan2.headers).get_json()["like_count"] == 2
    own = client.put(url, headers=author.headers)
    assert own.status_code == 403 and own.get_json()["error"]["code"] == "own_content"
    assert client.delete(url, headers=fan.headers).get_json() == {"liked": False, "like_count": 1}
    assert client.delete(url, headers=fan.headers).get_json() == {"liked": False, "like_count": 1}
    assert client.get(f"/api/v1/posts/{post['id']}", headers=fan2.headers).get_json()["viewer"]["liked"] is True
    assert client.put("/api/v1/posts/424242/like", headers=fan.headers).status_code == 404

    reply = forum.reply(fan, post["id"])
    rurl = f"/api/v1/replies/{reply['id']}/like"
    assert client.put(rurl, headers=author.headers).get_json() == {"liked": True, "like_count": 1}
    assert client.put(rurl, headers=author.headers).get_json()["like_count"] == 1
    assert client.put(rurl, headers=fan.headers).status_code == 403
    assert client.delete(rurl, headers=author.headers).get_json()["like_count"] == 0


def test_applause_once_per_member_and_never_your_own(client, members, forum):
    board = forum.board()
    author, replier, a, b = members.create(), members.create(), members.create(), members.create()
    post = forum.post(author, board["id"])
    reply = forum.reply(replier, post["id"], "a moving story")
    url = f"/api/v1/replies/{reply['id']}/applause"
    assert client.put(url, headers=a.headers).get_json() == {"applauded": True, "applause_count": 1}
    assert client.put(url, headers=a.headers).get_json() == {"applauded": True, "applause_count": 1}
    assert client.put(url, headers=b.headers).get_json()["applause_count"] == 2
    assert client.put(url, headers=replier.headers).status_code == 403
    assert client.delete(url, headers=a.headers).status_code == 405
    listed = client.get(f"/api/v1/posts/{post['id']}/replies", headers=a.headers).get_json()["items"][0]
    assert listed["applause_count"] == 2 and listed["viewer"] == {"liked": False, "applauded": True}


def test_favorites(client, members, forum):
    board = forum.board()
    author, fan = members.create(), members.create()
    first, second = forum.post(author, board["id"], "first one"), forum.post(author, board["id"], "second one")
    for post in (first, second, first):
        assert client.put(f"/api/v1/posts/{post['id']}/favorite", headers=fan.headers).status_code == 200
    favs = client.get("/api/v1/me/favorites", headers=fan.headers).get_json()
    assert [p["title"] for p in favs["items"]] == ["second one", "first one"]
    assert favs["items"][0]["viewer"]["favorited"] is True
    assert client.get(f"/api/v1/posts/{first['id']}").get_json()["favorite_count"] == 1
    client.delete(f"/api/v1/posts/{first['id']}/favorite", headers=fan.headers)
    assert [p["title"] for p in client.get("/api/v1/me/favorites", headers=fan.headers).get_json()["items"]] == [
        "second one"
    ]
    assert client.get("/api/v1/me/favorites").status_code == 401


def test_notifications_for_reply_quote_mention_like_and_applause(client, members, forum):
    board = forum.board()
    author = members.create("poster")
    quoted = members.create("quoted")
    mentioned = members.create("mentioned")
    fan = members.create("fan")
    post = forum.post(author, board["id"], body="hi @mentioned and @nobody_here")
    first = forum.reply(quoted, post["id"], "first!")
    forum.reply(fan, post["id"], "nice @poster @mentioned", quote_reply_id=first["id"])
    client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers)
    client.put(f"/api/v1/replies/{first['id']}/applause", headers=fan.headers)
    client.put(f"/api/v1/replies/{first['id']}/applause", headers=fan.headers)

    def kinds(member):
        body = client.get("/api/v1/me/notifications", headers=member.headers).get_json()
        return sorted(n["kind"] for n in body["items"]), body["unread_count"]

    assert kinds(author) == (["like", "reply", "reply"], 3)
    assert kinds(quoted) == (["applause", "quote"], 2)
    assert kinds(mentioned) == (["mention", "mention"], 2)
    assert kinds(fan) == ([], 0)  # never told about your own actions

    inbox = client.get("/api/v1/me/notifications", headers=author.headers).get_json()
    newest = inbox["items"][0]
    assert newest["actor"]["username"] == "fan" and newest["post_id"] == post["id"]
    # Other members' notification ids are ignored.
    marked = client.post("/api/v1/me/notifications/read", json={"ids": [newest["id"]]}, headers=fan.headers)
    assert marked.get_json()["marked"] == 0
    marked = client.post("/api/v1/me/notifications/read", json={"ids": [newest["id"]]}, headers=author.headers)
    assert marked.get_json() == {"marked": 1, "unread_count": 2}
    unread = client.get("/api/v1/me/notifications?unread=true", headers=author.headers).get_json()["items"]
    assert len(unread) == 2
    assert client.post("/api/v1/me/notifications/read", json={}, headers=author.headers).get_json()["unread_count"] == 0


def test_the_hot_score_follows_every_bump_in_the_same_update(app, client, members, forum):
    """Likes, favourites and replies move the stored hot score with their counters (computed in SQL), to what
    forum.hot.hot_score gives for the stored counts."""
    from forum.hot import hot_score
    from forum.posts import Post
    from kernel.db import db

    board = forum.board()
    author, fans = members.create(), [members.create() for _ in range(3)]
    post = forum.post(author, board["id"])

    def stored() -> tuple[float, float]:
        with app.app_context():
            row = db.session.get(Post, post["id"])
            expected = hot_score(
                likes=row.like_count,
                replies=row.reply_count,
                favorites=row.favorite_count,
                featured=row.featured,
                created_at=row.created_at,
            )
            return row.hot_score, expected

    start, _ = stored()
    for fan in fans:
        assert client.put(f"/api/v1/posts/{post['id']}/like", headers=fan.headers).status_code == 200
        forum.reply(fan, post["id"], "顶一下")
    assert client.put(f"/api/v1/posts/{post['id']}/favorite", headers=fans[0].headers).status_code == 200
    score, expected = stored()
    assert score > start and abs(score - expected) < 1e-6  # 3 likes + 2 × 3 replies + 2 × 1 favourite = 11
    assert client.delete(f"/api/v1/posts/{post['id']}/like", headers=fans[1].headers).status_code == 200
    lower, expected = stored()
    assert lower < score and abs(lower - expected) < 1e-6
