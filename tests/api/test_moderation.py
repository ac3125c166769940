import pytest
from sqlalchemy import text

from kernel.db import db
from tests.conftest import ON_POSTGRES


def _words(client, operator, entries):
    response = client.put("/api/v1/moderation/words", json={"items": entries}, headers=operator.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _act(client, actor, action, target_id, target_type="post", **extra):
    return client.post(
        "/api/v1/moderation/actions",
        json={"action": action, "target_type": target_type, "target_id": target_id, **extra},
        headers=actor.headers,
    )


def test_word_list_is_for_operators(client, members):
    member, operator = members.create(), members.create(role="operator")
    assert client.get("/api/v1/moderation/words", headers=member.headers).status_code == 403
    assert client.put("/api/v1/moderation/words", json={"items": []}, headers=member.headers).status_code == 403
    items = _words(
        client,
        operator,
        [
            {"word": "赌博", "action": "block"},
            {"word": "ＢＡＤ", "action": "mask"},
            {"word": "bad", "action": "review"},
        ],
    )
    assert sorted((i["word"], i["action"]) for i in items) == [("bad", "review"), ("赌博", "block")]
    assert (
        client.put(
            "/api/v1/moderation/words", json={"items": [{"word": "x", "action": "nuke"}]}, headers=operator.headers
        ).status_code
        == 422
    )


def test_filter_blocks_masks_and_holds_posts(client, members, forum):
    operator = members.create(role="operator")
    _words(
        client,
        operator,
        [{"word": "赌博", "action": "block"}, {"word": "傻瓜", "action": "mask"}, {"word": "代购", "action": "review"}],
    )
    board, author = forum.board(), members.create()
    blocked = client.post(
        "/api/v1/posts", json={"board_id": board["id"], "title": "一起来赌　博", "body": "x"}, headers=author.headers
    )
    assert blocked.status_code == 422
    assert blocked.get_json()["error"]["code"] == "sensitive_content"
    assert blocked.get_json()["error"]["details"]["terms"] == ["赌博"]
    masked = forum.post(author, board["id"], "Hello", "你这个傻瓜 haha")
    assert masked["body"] == "你这个＊＊ haha" and masked["status"] == "published"
    held = forum.post(author, board["id"], "找代购", "便宜")
    assert held["status"] == "pending_review"
    assert client.get(f"/api/v1/posts/{held['id']}").status_code == 404  # not public yet
    assert client.get(f"/api/v1/posts/{held['id']}", headers=author.headers).status_code == 200
    reply = client.post(f"/api/v1/posts/{masked['id']}/replies", json={"body": "赌博吗"}, headers=author.headers)
    assert reply.status_code == 422
    # Names never carry listed words; bios are masked.
    assert (
        client.post(
            "/api/v1/auth/register",
            json={"username": "duboking", "password": "long password", "display_name": "赌博王"},
        ).status_code
        == 422
    )
    bio = client.patch("/api/v1/me", json={"bio": "我不是傻瓜"}, headers=author.headers)
    assert bio.get_json()["bio"] == "我不是＊＊"


def test_queue_approve_and_reject_with_notifications(client, members, forum):
    operator, mod = members.create(role="operator"), members.create(role="moderator")
    _words(client, operator, [{"word": "代购", "action": "review"}])
    board, author = forum.board(), members.create()
    first = forum.post(author, board["id"], "代购一", "x")
    second = forum.post(author, board["id"], "代购二", "x")
    queue = client.get("/api/v1/moderation/queue", headers=mod.headers).get_json()["items"]
    assert [(i["subject_id"], i["reason"], i["details"]["terms"]) for i in queue] == [
        (second["id"], "filter", ["代购"]),
        (first["id"], "filter", ["代购"]),
    ]
    assert queue[0]["subject"]["title"] == "代购二"
    assert client.get("/api/v1/moderation/queue", headers=author.headers).status_code == 403
    assert _act(client, mod, "reject", second["id"]).status_code == 422  # a reason is required
    assert _act(client, mod, "reject", second["id"], reason="广告").get_json()["status"] == "hidden"
    approved = _act(client, mod, "approve", first["id"])
    assert approved.status_code == 200 and approved.get_json()["status"] == "published"
    assert _act(client, mod, "approve", first["id"]).status_code == 409
    assert client.get(f"/api/v1/posts/{first['id']}").status_code == 200
    assert client.get(f"/api/v1/boards/{board['id']}").get_json()["post_count"] == 1
    assert client.get("/api/v1/moderation/queue", headers=mod.headers).get_json()["items"] == []
    decided = client.get("/api/v1/moderation/queue?status=decided", headers=mod.headers).get_json()["items"]
    assert sorted(i["decision"] for i in decided) == ["approved", "rejected"]
    notes = client.get("/api/v1/me/notifications", headers=author.headers).get_json()["items"]
    assert [n["kind"] for n in notes] == ["moderation", "moderation"]
    assert "广告" in notes[1]["message"]


def test_new_members_first_topics_wait_for_review(client, members, forum, settings, set_level):
    settings(NEW_MEMBER_REVIEW_POSTS=2, NEW_MEMBER_LEVEL=2)
    board, newbie, veteran = forum.board(), members.create(), members.create()
    set_level(veteran.id, 2)
    mod = members.create(role="moderator")
    first = forum.post(newbie, board["id"], "first topic")
    assert first["status"] == "pending_review"
    assert forum.post(veteran, board["id"], "veteran topic")["status"] == "published"
    _act(client, mod, "approve", first["id"])
    assert forum.post(newbie, board["id"], "second topic")["status"] == "pending_review"
    queue = client.get("/api/v1/moderation/queue", headers=mod.headers).get_json()["items"]
    assert [i["reason"] for i in queue] == ["new_member"]
    _act(client, mod, "approve", queue[0]["subject_id"])
    assert forum.post(newbie, board["id"], "third topic")["status"] == "published"


def test_reports_auto_hide_after_trusted_threshold(client, members, forum, settings, set_level):
    settings(REPORT_AUTO_HIDE_THRESHOLD=3, REPORT_TRUSTED_LEVEL=2)
    board, author = forum.board(), members.create()
    post = forum.post(author, board["id"])
    report = {"target_type": "post", "target_id": post["id"], "reason": "spam"}
    untrusted = [members.create() for _ in range(3)]
    for member in untrusted:
        assert client.post("/api/v1/reports", json=report, headers=member.headers).status_code == 201
    assert client.get(f"/api/v1/posts/{post['id']}").status_code == 200  # low-level reports don't hide
    assert client.post("/api/v1/reports", json=report, headers=untrusted[0].headers).status_code == 409
    assert client.post("/api/v1/reports", json=report, headers=author.headers).status_code == 409
    trusted = [members.create() for _ in range(3)]
    for member in trusted:
        set_level(member.id, 3)
    client.post("/api/v1/reports", json=report, headers=trusted[0].headers)
    client.post("/api/v1/reports", json=report, headers=trusted[1].headers)
    assert client.get(f"/api/v1/posts/{post['id']}").status_code == 200
    client.post("/api/v1/reports", json=report, headers=trusted[2].headers)
    assert client.get(f"/api/v1/posts/{post['id']}").status_code == 404  # hidden, pending review
    mod = members.create(role="moderator")
    queue = client.get("/api/v1/moderation/queue", headers=mod.headers).get_json()["items"]
    assert [(i["subject_id"], i["reason"]) for i in queue] == [(post["id"], "reports")]
    # The moderator disagrees: restored, and the reports count against their filers.
    assert _act(client, mod, "restore", post["id"]).get_json()["status"] == "published"
    listed = client.get(f"/api/v1/moderation/reports?reporter_id={trusted[0].id}", headers=mod.headers).get_json()
    assert listed["items"][0]["status"] == "dismissed"
    assert listed["items"][0]["reporter_record"] == {"filed": 1, "upheld": 0, "dismissed": 1}
    assert client.get("/api/v1/moderation/reports", headers=author.headers).status_code == 403
    assert (
        client.post("/api/v1/reports", json={**report, "target_id": 999999}, headers=trusted[0].headers).status_code
        == 404
    )


ACTIONS = [("hide", {"reason": "r"}), ("lock", {}), ("pin", {}), ("feature", {}), ("delete", {"reason": "r"})]


@pytest.mark.parametrize(("action", "extra"), ACTIONS)
def test_action_permission_matrix(client, members, forum, action, extra):
    board, elsewhere = forum.board(), forum.board()
    author, member = members.create(), members.create()
    mod_here, mod_there = members.create(), members.create()
    client.put(f"/api/v1/boards/{board['id']}/moderators/{mod_here.id}", headers=forum.admin.headers)
    client.put(f"/api/v1/boards/{elsewhere['id']}/moderators/{mod_there.id}", headers=forum.admin.headers)
    global_mod = members.create(role="moderator")
    expected = [(member, 403), (author, 403), (mod_there, 403), (mod_here, 200), (global_mod, 200), (forum.admin, 200)]
    for actor, status in expected:
        post = forum.post(author, board["id"])
        response = _act(client, actor, action, post["id"], **extra)
        assert response.status_code == status, (action, actor.username, response.get_json())


def test_feature_pin_lock_move_and_their_effects(app, client, members, forum):
    board, other = forum.board(), forum.board()
    author = members.create()
    mod = members.create(role="moderator")
    post = forum.post(author, board["id"])
    featured = _act(client, mod, "feature", post["id"]).get_json()
    assert featured["featured"] is True
    assert [p["id"] for p in client.get("/api/v1/posts?sort=featured").get_json()["items"]] == [post["id"]]
    _act(client, mod, "feature", post["id"])  # twice: one event, one reward
    with app.app_context():
        from sqlalchemy import func, select

        from kernel.outbox import Event

        assert db.session.scalar(select(func.count()).where(Event.type == "post_featured")) == 1
    assert _act(client, mod, "lock", post["id"]).get_json()["locked"] is True
    assert (
        client.post(f"/api/v1/posts/{post['id']}/replies", json={"body": "x"}, headers=author.headers).status_code
        == 409
    )
    assert _act(client, mod, "move", post["id"]).status_code == 422
    moved = _act(client, mod, "move", post["id"], board_id=other["id"]).get_json()
    assert moved["board_id"] == other["id"]
    assert client.get(f"/api/v1/boards/{board['id']}").get_json()["post_count"] == 0
    assert client.get(f"/api/v1/boards/{other['id']}").get_json()["post_count"] == 1
    reply = forum.reply(mod, post["id"])
    assert _act(client, mod, "pin", reply["id"], target_type="reply").status_code == 422
    assert _act(client, mod, "hide", reply["id"], target_type="reply", reason="off-topic").status_code == 200
    assert client.get(f"/api/v1/posts/{post['id']}").get_json()["reply_count"] == 0


def test_board_moderator_cannot_move_into_a_board_they_do_not_moderate(client, members, forum):
    board, other = forum.board(), forum.board()
    mod, author = members.create(), members.create()
    client.put(f"/api/v1/boards/{board['id']}/moderators/{mod.id}", headers=forum.admin.headers)
    post = forum.post(author, board["id"])
    assert _act(client, mod, "move", post["id"], board_id=other["id"]).status_code == 403


def test_sanctions_mute_ban_and_rank(client, members, forum):
    board = forum.board()
    member, other_mod = members.create(), members.create(role="moderator")
    mod = members.create(role="moderator")
    url = f"/api/v1/users/{member.id}/sanctions"
    assert (
        client.post(url, json={"kind": "mute", "hours": 2, "reason": "flame"}, headers=member.headers).status_code
        == 403
    )
    assert client.post(url, json={"kind": "mute", "reason": "no hours"}, headers=mod.headers).status_code == 422
    muted = client.post(url, json={"kind": "mute", "hours": 2, "reason": "flame"}, headers=mod.headers)
    assert muted.status_code == 201 and muted.get_json()["ends_at"]
    refused = client.post(
        "/api/v1/posts", json={"board_id": board["id"], "title": "still here", "body": "x"}, headers=member.headers
    )
    assert refused.status_code == 403 and refused.get_json()["error"]["details"]["muted_until"]
    client.post(url, json={"kind": "unmute", "reason": "appeal"}, headers=mod.headers)
    forum.post(member, board["id"])
    assert client.post(url, json={"kind": "ban", "reason": "spam"}, headers=mod.headers).status_code == 403
    assert (
        client.post(
            f"/api/v1/users/{other_mod.id}/sanctions",
            json={"kind": "mute", "hours": 1, "reason": "x"},
            headers=mod.headers,
        ).status_code
        == 403
    )
    assert client.post(url, json={"kind": "ban", "reason": "spam"}, headers=forum.admin.headers).status_code == 201
    assert client.get("/api/v1/me", headers=member.headers).status_code in (401, 403)
    history = client.get(url, headers=mod.headers).get_json()["items"]
    assert [h["kind"] for h in history] == ["ban", "unmute", "mute"]
    client.post(url, json={"kind": "unban", "reason": "second chance"}, headers=forum.admin.headers)
    assert members.login(member.username)


def test_audit_log_records_staff_actions_for_admins_only(app, client, members, forum):
    mod = members.create(role="moderator")
    post = forum.post(members.create(), forum.board()["id"])
    _act(client, mod, "hide", post["id"], reason="spam")
    promoted = members.create()
    client.put(f"/api/v1/users/{promoted.id}/role", json={"role": "operator"}, headers=forum.admin.headers)
    assert client.get("/api/v1/moderation/audit", headers=mod.headers).status_code == 403
    entries = client.get("/api/v1/moderation/audit", headers=forum.admin.headers).get_json()["items"]
    hide = next(e for e in entries if e["action"] == "post.hide")
    assert hide["actor"]["id"] == mod.id and hide["target_id"] == post["id"] and hide["reason"] == "spam"
    role_change = next(e for e in entries if e["action"] == "user.set_role")
    assert role_change["target_id"] == promoted.id and role_change["details"] == {
        "previous": "member",
        "role": "operator",
    }
    filtered = client.get(f"/api/v1/moderation/audit?actor_id={mod.id}", headers=forum.admin.headers).get_json()
    assert [e["action"] for e in filtered["items"]] == ["post.hide"]
    with app.app_context(), pytest.raises(Exception, match="append-only"):
        db.session.execute(text("UPDATE audit_log SET reason = 'rewritten'"))
    if ON_POSTGRES:
        with app.app_context(), pytest.raises(Exception, match="append-only"):
            db.session.execute(text("DELETE FROM audit_log"))


def test_action_rate_limits_with_retry_after_and_staff_exemption(client, members, forum, settings):
    settings(ACTION_LIMITS_ENABLED=True, ACTION_LIMITS={"reply": "2 per minute", "report": "1 per day"})
    board, author = forum.board(), members.create()
    post = forum.post(author, board["id"])
    url = f"/api/v1/posts/{post['id']}/replies"
    # A refused (invalid) reply does not use up the allowance.
    assert client.post(url, json={"body": ""}, headers=author.headers).status_code == 422
    assert [client.post(url, json={"body": "x"}, headers=author.headers).status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]
    limited = client.post(url, json={"body": "x"}, headers=author.headers)
    assert limited.get_json()["error"]["code"] == "action_rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    staff = members.create(role="moderator")
    assert [client.post(url, json={"body": "x"}, headers=staff.headers).status_code for _ in range(3)] == [201] * 3
