def test_admins_manage_boards_and_members_cannot(client, members, forum):
    member = members.create()
    assert (
        client.post("/api/v1/boards", json={"slug": "x-board", "name": "X"}, headers=member.headers).status_code == 403
    )
    board = forum.board("lego-city", description="城市系列")
    assert board["slug"] == "lego-city" and board["moderators"] == []
    dup = client.post("/api/v1/boards", json={"slug": "lego-city", "name": "again"}, headers=forum.admin.headers)
    assert dup.status_code == 409
    # Slugs are URLs: taken as given, never folded (the document says the pattern).
    upper = client.post("/api/v1/boards", json={"slug": "LEGO-City", "name": "again"}, headers=forum.admin.headers)
    assert upper.status_code == 422
    bad = client.post("/api/v1/boards", json={"slug": "空格 slug", "name": "x"}, headers=forum.admin.headers)
    assert bad.status_code == 422
    patched = client.patch(
        f"/api/v1/boards/{board['id']}", json={"name": "城市", "position": 3}, headers=forum.admin.headers
    )
    assert patched.status_code == 200 and patched.get_json()["name"] == "城市"
    assert (
        client.patch(f"/api/v1/boards/{board['id']}", json={"name": "hack"}, headers=member.headers).status_code == 403
    )
    assert client.get("/api/v1/boards/99999").status_code == 404
    listed = client.get("/api/v1/boards").get_json()["items"]
    assert [b["slug"] for b in listed] == ["lego-city"]


def test_admins_assign_board_moderators(client, members, forum):
    board = forum.board()
    mod = members.create()
    url = f"/api/v1/boards/{board['id']}/moderators/{mod.id}"
    assert client.put(url, headers=mod.headers).status_code == 403
    for _ in range(2):  # idempotent
        response = client.put(url, headers=forum.admin.headers)
        assert response.status_code == 200
    assert [m["id"] for m in response.get_json()["moderators"]] == [mod.id]
    assert client.put(f"/api/v1/boards/{board['id']}/moderators/4242", headers=forum.admin.headers).status_code == 404
    removed = client.delete(url, headers=forum.admin.headers)
    assert removed.get_json()["moderators"] == []


def test_staff_only_boards_refuse_members_but_not_staff_or_their_moderators(client, members, forum):
    board = forum.board("news", staff_only=True)
    member = members.create()
    response = client.post(
        "/api/v1/posts", json={"board_id": board["id"], "title": "hi there", "body": "x"}, headers=member.headers
    )
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "board_staff_only"
    operator = members.create(role="operator")
    forum.post(operator, board["id"], "活动通知")
    client.put(f"/api/v1/boards/{board['id']}/moderators/{member.id}", headers=forum.admin.headers)
    forum.post(member, board["id"], "版主公告")
    assert client.get(f"/api/v1/boards/{board['id']}").get_json()["post_count"] == 2
