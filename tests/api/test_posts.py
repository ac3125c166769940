from datetime import timedelta

from kernel import clock


def test_create_read_and_render_a_post_safely(client, members, forum):
    board = forum.board()
    author = members.create()
    body = (
        "Hello <script>alert(1)</script> **bold** [ok](https://example.com) "
        "[bad](javascript:alert(1)) <img src=x onerror=alert(1)> `<b>code</b>`"
    )
    post = forum.post(author, board["id"], "标题 <i>x</i>", body, tags=["乐高", "MOC", "#乐高"])
    assert post["title"] == "标题 <i>x</i>"  # stored as written; clients render titles as text
    assert post["tags"] == ["MOC", "乐高"]
    html = post["body_html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "onerror=alert(1)&gt;" in html
    assert '<a href="https://example.com"' in html
    assert 'href="javascript' not in html
    assert "<strong>bold</strong>" in html
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html
    fetched = client.get(f"/api/v1/posts/{post['id']}")
    assert fetched.status_code == 200 and fetched.get_json()["body"] == body
    assert fetched.get_json()["viewer"] is None
    signed_in = client.get(f"/api/v1/posts/{post['id']}", headers=author.headers).get_json()
    assert signed_in["viewer"] == {"liked": False, "favorited": False}


def test_post_validation(client, members, forum):
    board = forum.board()
    author = members.create()
    base = {"board_id": board["id"], "title": "Valid title", "body": "body"}
    cases = [
        ({**base, "tags": ["a", "b", "c", "d", "e", "f"]}, 422),
        ({**base, "tags": ["bad<tag>"]}, 422),
        ({**base, "title": " "}, 422),
        ({**base, "body": ""}, 422),
        ({**base, "board_id": 987654}, 404),
        ({**base, "image_ids": [123456]}, 422),
        ({**base, "image_ids": list(range(1, 11))}, 422),
        ({**base, "pinned": True}, 422),
    ]
    for body, status in cases:
        response = client.post("/api/v1/posts", json=body, headers=author.headers)
        assert response.status_code == status, (body, response.get_json())
    assert client.get("/api/v1/posts").get_json()["items"] == []
    assert client.post("/api/v1/posts", json=base).status_code == 401


def test_only_the_author_edits_and_author_or_board_moderator_deletes(client, members, forum):
    board, other_board = forum.board(), forum.board()
    author, stranger, board_mod, global_mod = members.create(), members.create(), members.create(), None
    global_mod = members.create(role="moderator")
    client.put(f"/api/v1/boards/{other_board['id']}/moderators/{board_mod.id}", headers=forum.admin.headers)
    post = forum.post(author, board["id"])
    url = f"/api/v1/posts/{post['id']}"
    assert client.patch(url, json={"title": "hijacked"}, headers=stranger.headers).status_code == 403
    assert client.patch(url, json={"title": "hijacked"}, headers=global_mod.headers).status_code == 403
    assert client.delete(url, headers=stranger.headers).status_code == 403
    # A moderator of another board has no power here.
    assert client.delete(url, headers=board_mod.headers).status_code == 403
    edited = client.patch(url, json={"title": "Better title", "tags": ["新"]}, headers=author.headers)
    assert edited.status_code == 200 and edited.get_json()["title"] == "Better title"
    assert edited.get_json()["edited_at"] is not None
    assert client.delete(url, headers=global_mod.headers).status_code == 204
    assert client.get(url).status_code == 404
    assert client.get(url, headers=author.headers).status_code == 404
    assert client.get(url, headers=global_mod.headers).get_json()["status"] == "deleted"
    assert client.patch(url, json={"title": "again"}, headers=author.headers).status_code == 404


def test_board_moderator_deletes_in_own_board(client, members, forum):
    board = forum.board()
    mod, author = members.create(), members.create()
    client.put(f"/api/v1/boards/{board['id']}/moderators/{mod.id}", headers=forum.admin.headers)
    post = forum.post(author, board["id"])
    assert client.delete(f"/api/v1/posts/{post['id']}?reason=spam", headers=mod.headers).status_code == 204
    assert client.get(f"/api/v1/boards/{board['id']}").get_json()["post_count"] == 0


def test_muted_members_cannot_post_or_reply(app, client, members, forum):
    board = forum.board()
    author, muted = members.create(), members.create()
    post = forum.post(author, board["id"])
    with app.app_context():
        from forum.members import User
        from kernel.db import db

        db.session.get(User, muted.id).muted_until = clock.now() + timedelta(hours=2)
        db.session.commit()
    refused = client.post(
        "/api/v1/posts", json={"board_id": board["id"], "title": "hello", "body": "x"}, headers=muted.headers
    )
    assert refused.status_code == 403
    error = refused.get_json()["error"]
    assert error["code"] == "member_muted" and "muted_until" in error["details"]
    assert (
        client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "x"}, headers=muted.headers).status_code == 403
    )


def test_images_must_belong_to_the_author(client, members, forum, png_bytes):
    board = forum.board()
    owner, thief = members.create(), members.create()
    upload = client.post(
        "/api/v1/media",
        data={"file": (png_bytes(), "a.png")},
        headers=owner.headers,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201
    media_id = upload.get_json()["id"]
    refused = client.post(
        "/api/v1/posts",
        json={"board_id": board["id"], "title": "stolen", "body": "x", "image_ids": [media_id]},
        headers=thief.headers,
    )
    assert refused.status_code == 422
    post = forum.post(owner, board["id"], image_ids=[media_id])
    assert [i["id"] for i in post["images"]] == [media_id]
    assert post["images"][0]["url"] == f"/api/v1/media/{media_id}"


def test_views_are_buffered_then_flushed(app, client, members, forum):
    board = forum.board()
    post = forum.post(members.create(), board["id"])
    for _ in range(3):
        client.get(f"/api/v1/posts/{post['id']}")
    assert client.get(f"/api/v1/posts/{post['id']}").get_json()["view_count"] == 4
    with app.app_context():
        from forum.posts import Post
        from forum.view_counts import flush_views
        from kernel.db import db

        assert db.session.get(Post, post["id"]).view_count == 0
        assert flush_views() == 4
        assert db.session.get(Post, post["id"]).view_count == 4
    assert client.get(f"/api/v1/posts/{post['id']}").get_json()["view_count"] == 5
