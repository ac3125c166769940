from datetime import timedelta

from kernel import clock


def test_activity_tiers_are_recomputed_and_operator_only(app, client, members, forum):
    board = forum.board()
    busy, quiet = members.create(), members.create()
    post = forum.post(busy, board["id"])
    for _ in range(8):
        forum.reply(busy, post["id"])
    operator = members.create(role="operator")
    result = app.test_cli_runner().invoke(args=["ops", "recompute-tiers"])
    assert result.exit_code == 0 and "regular: 1" in result.output
    assert client.get(f"/api/v1/users/{busy.id}/tier", headers=operator.headers).get_json()["tier"] == "regular"
    assert client.get(f"/api/v1/users/{quiet.id}/tier", headers=operator.headers).get_json()["tier"] == "inactive"
    assert client.get(f"/api/v1/users/{busy.id}/tier", headers=busy.headers).status_code == 403


def test_interest_tags_self_friend_and_operator(client, members):
    me, friend, other = members.create(), members.create(), members.create()
    operator = members.create(role="operator")
    assert (
        client.put(
            f"/api/v1/users/{me.id}/tags", json={"tags": ["乐高", "摄影", "#乐高"]}, headers=me.headers
        ).status_code
        == 200
    )
    client.put(f"/api/v1/users/{me.id}/tags", json={"tags": ["乐高", "城市系列"]}, headers=friend.headers)
    client.put(f"/api/v1/users/{me.id}/tags", json={"tags": ["乐高"]}, headers=other.headers)
    client.put(f"/api/v1/users/{me.id}/tags", json={"tags": ["bought X"], "kind": "operator"}, headers=operator.headers)
    assert (
        client.put(
            f"/api/v1/users/{me.id}/tags", json={"tags": ["vip"], "kind": "operator"}, headers=friend.headers
        ).status_code
        == 403
    )
    assert (
        client.put(
            f"/api/v1/users/{friend.id}/tags", json={"tags": ["x"], "kind": "self"}, headers=me.headers
        ).status_code
        == 403
    )
    public = client.get(f"/api/v1/users/{me.id}/tags").get_json()["items"]
    assert {(t["tag"], t["kind"], t["count"]) for t in public} == {
        ("乐高", "self", 1),
        ("摄影", "self", 1),
        ("乐高", "friend", 2),
        ("城市系列", "friend", 1),
    }
    staff_view = client.get(f"/api/v1/users/{me.id}/tags", headers=operator.headers).get_json()["items"]
    assert ("bought X", "operator") in {(t["tag"], t["kind"]) for t in staff_view}
    removed = client.delete("/api/v1/me/tags/城市系列", headers=me.headers).get_json()["items"]
    assert "城市系列" not in {t["tag"] for t in removed}
    assert client.put(f"/api/v1/users/{me.id}/tags", json={"tags": ["bad<tag>"]}, headers=me.headers).status_code == 422


def test_segments_filter_and_export(client, members, forum, set_level):
    operator = members.create(role="operator")
    a, b, c = members.create(), members.create(), members.create()
    for m in (a, b):
        client.put(f"/api/v1/users/{m.id}/tags", json={"tags": ["摄影"]}, headers=m.headers)
    set_level(b.id, 4)
    body = client.get("/api/v1/segments?tag=摄影", headers=operator.headers).get_json()
    assert sorted(m["id"] for m in body["items"]) == [a.id, b.id]
    assert [
        m["id"]
        for m in client.get("/api/v1/segments?tag=摄影&min_level=3", headers=operator.headers).get_json()["items"]
    ] == [b.id]
    csv_text = (
        client.get("/api/v1/segments?tag=摄影&format=csv", headers=operator.headers).get_data().decode("utf-8-sig")
    )
    assert csv_text.splitlines()[0] == "id,username,display_name,level,region" and len(csv_text.splitlines()) == 3
    assert client.get("/api/v1/segments", headers=c.headers).status_code == 403
    assert client.get("/api/v1/segments?tier=legendary", headers=operator.headers).status_code == 422


def _officer_campaign(client, operator, now, **fields):
    body = {
        "title": "新品体验官招募",
        "product_name": "龙舟套装",
        "slots": 2,
        "checkin_days": 3,
        "apply_closes_at": (now + timedelta(days=2)).isoformat(),
        "questions": [
            {"key": "followers", "label": "其他平台粉丝数", "type": "number"},
            {"key": "share", "label": "愿意分享吗", "type": "choice", "options": ["愿意", "不愿意"]},
        ],
        **fields,
    }
    response = client.post("/api/v1/campaigns", json=body, headers=operator.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_experience_officer_campaign_end_to_end(app, client, members, png_bytes, frozen_clock):
    operator = members.create(role="operator")
    applicants = [members.create() for _ in range(4)]
    outsider = members.create()
    for m in applicants:
        client.put(f"/api/v1/users/{m.id}/tags", json={"tags": ["乐高"]}, headers=m.headers)
    campaign = _officer_campaign(client, operator, frozen_clock, audience={"tag": "乐高"})
    assert client.post(f"/api/v1/campaigns/{campaign['id']}/invite", headers=operator.headers).get_json() == {
        "invited": 4
    }
    url = f"/api/v1/campaigns/{campaign['id']}/apply"
    answers = {"followers": 1200, "share": "愿意"}
    assert client.post(url, json={"answers": answers}, headers=outsider.headers).status_code == 403
    assert client.post(url, json={"answers": {"followers": 10}}, headers=applicants[0].headers).status_code == 422
    assert (
        client.post(url, json={"answers": {**answers, "share": "maybe"}}, headers=applicants[0].headers).status_code
        == 422
    )
    for m in applicants:
        assert client.post(url, json={"answers": answers}, headers=m.headers).status_code == 201
    assert client.post(url, json={"answers": answers}, headers=applicants[0].headers).status_code == 409
    chosen = client.post(
        f"/api/v1/campaigns/{campaign['id']}/select", json={"user_ids": [applicants[0].id]}, headers=operator.headers
    )
    assert chosen.status_code == 200 and chosen.get_json()["status"] == "running"
    seed = chosen.get_json()["selection_seed"]
    from operations.campaigns import draw

    drawn = draw([m.id for m in applicants[1:]], 1, seed)  # anyone can re-run the draw
    apps = client.get(f"/api/v1/campaigns/{campaign['id']}/applications", headers=operator.headers).get_json()["items"]
    selected = sorted(a["user_id"] for a in apps if a["status"] == "selected")
    assert selected == sorted([applicants[0].id, *drawn])
    assert (
        client.post(f"/api/v1/campaigns/{campaign['id']}/select", json={}, headers=operator.headers).status_code == 409
    )
    loser = next(m for m in applicants if m.id not in selected)
    staff_tags = client.get(f"/api/v1/users/{loser.id}/tags", headers=operator.headers).get_json()["items"]
    assert ("好奇新品", "operator") in {(t["tag"], t["kind"]) for t in staff_tags}
    officer = next(m for m in applicants if m.id == selected[0])
    checkin = f"/api/v1/campaigns/{campaign['id']}/checkins"
    assert client.post(checkin, json={"note": "开箱"}, headers=loser.headers).status_code == 403
    for day in range(3):
        assert client.post(checkin, json={"note": f"day {day}"}, headers=officer.headers).status_code == 201
        assert client.post(checkin, json={}, headers=officer.headers).status_code == 409
        clock.advance(timedelta(days=1))
    assert client.post(checkin, json={}, headers=officer.headers).status_code == 409  # the period is over
    points = client.get("/api/v1/me/points", headers=officer.headers).get_json()["balance"]
    assert points == 3 * 10
    shot = client.post(
        "/api/v1/media",
        data={"file": (png_bytes(), "s.png")},
        headers=officer.headers,
        content_type="multipart/form-data",
    ).get_json()["id"]
    bad_link = client.post(
        f"/api/v1/campaigns/{campaign['id']}/shares",
        json={"url": "javascript:alert(1)", "screenshot_id": shot},
        headers=officer.headers,
    )
    assert bad_link.status_code == 422
    share = client.post(
        f"/api/v1/campaigns/{campaign['id']}/shares",
        json={"url": "https://xhslink.com/abc", "screenshot_id": shot},
        headers=officer.headers,
    )
    assert share.status_code == 201
    queue = client.get(
        "/api/v1/moderation/queue?subject_type=share", headers=members.create(role="moderator").headers
    ).get_json()["items"]
    assert [(q["subject_type"], q["subject_id"]) for q in queue] == [("share", share.get_json()["id"])]
    review = f"/api/v1/shares/{share.get_json()['id']}/review"
    assert client.post(review, json={"decision": "reject"}, headers=operator.headers).status_code == 422
    assert client.post(review, json={"decision": "approve"}, headers=officer.headers).status_code == 403
    assert (
        client.post(review, json={"decision": "approve"}, headers=operator.headers).get_json()["status"] == "approved"
    )
    assert client.post(review, json={"decision": "approve"}, headers=operator.headers).status_code == 409
    assert client.get("/api/v1/me/points", headers=officer.headers).get_json()["balance"] == points + 30
    mine = [
        a
        for a in client.get(f"/api/v1/campaigns/{campaign['id']}/applications", headers=operator.headers).get_json()[
            "items"
        ]
        if a["user_id"] == officer.id
    ][0]
    assert mine["checkin_count"] == 3 and mine["completed_at"] is not None


def test_feedback_loop(client, members):
    member, other = members.create(), members.create()
    operator, product = members.create(role="operator"), members.create(role="product")
    item = client.post("/api/v1/feedback", json={"product": "龙舟套装", "body": "船桨容易掉"}, headers=member.headers)
    fid = item.get_json()["id"]
    assert client.get(f"/api/v1/feedback/{fid}", headers=other.headers).status_code == 404
    assert client.post(f"/api/v1/feedback/{fid}/reply", json={"reply": "x"}, headers=product.headers).status_code == 409
    assert client.post(f"/api/v1/feedback/{fid}/forward", json={}, headers=product.headers).status_code == 403
    assert client.get("/api/v1/feedback", headers=product.headers).get_json()["items"] == []
    client.post(f"/api/v1/feedback/{fid}/forward", json={"note": "请看"}, headers=operator.headers)
    assert [f["id"] for f in client.get("/api/v1/feedback", headers=product.headers).get_json()["items"]] == [fid]
    answered = client.post(f"/api/v1/feedback/{fid}/reply", json={"reply": "下一批改进卡扣"}, headers=product.headers)
    assert answered.get_json()["status"] == "answered"
    mine = client.get(f"/api/v1/feedback/{fid}", headers=member.headers).get_json()
    assert [h["action"] for h in mine["history"]] == ["submitted", "forwarded", "answered"]
    assert mine["reply"] == "下一批改进卡扣"
    assert (
        "产品团队回复"
        in client.get("/api/v1/me/notifications", headers=member.headers).get_json()["items"][0]["message"]
    )
    assert client.post(f"/api/v1/feedback/{fid}/close", headers=other.headers).status_code == 404
    assert client.post(f"/api/v1/feedback/{fid}/close", headers=member.headers).get_json()["status"] == "closed"
    assert [f["id"] for f in client.get("/api/v1/feedback", headers=other.headers).get_json()["items"]] == []


def test_ops_stats(client, members, forum):
    board = forum.board()
    author, fan = members.create(), members.create()
    post = forum.post(author, board["id"])
    forum.reply(fan, post["id"])
    operator = members.create(role="operator")
    item = client.post("/api/v1/rewards", json={"name": "Sticker", "price_points": 5}, headers=operator.headers)
    client.post(f"/api/v1/rewards/{item.get_json()['id']}/redeem", json={}, headers=author.headers)
    stats = client.get("/api/v1/ops/stats?days=7", headers=operator.headers).get_json()
    assert len(stats["daily_active_members"]) == 7
    assert sum(d["count"] for d in stats["posts_per_day"]) == 1
    assert sum(d["count"] for d in stats["replies_per_day"]) == 1
    assert stats["points"]["issued"] == 10 + 20 + 2 and stats["points"]["spent"] == 5
    assert stats["points"]["outstanding_balance"] == 27
    assert len(stats["points_per_day"]) == 7
    assert sum(d["issued"] for d in stats["points_per_day"]) == 32
    assert sum(d["spent"] for d in stats["points_per_day"]) == 5
    assert set(stats["tiers"]) == {"inactive", "occasional", "regular", "highly_active"}
    assert client.get("/api/v1/ops/stats", headers=author.headers).status_code == 403


def test_ops_stats_cut_days_in_the_community_time_zone(client, members, frozen_clock):
    from datetime import UTC, datetime

    from kernel import clock

    clock.set_now(datetime(2026, 3, 1, 17, 30, tzinfo=UTC))  # 01:30 on 2 March in Shanghai
    member, operator = members.create(), members.create(role="operator")
    assert client.post("/api/v1/me/checkin", headers=member.headers).status_code == 201
    stats = client.get("/api/v1/ops/stats?days=2", headers=operator.headers).get_json()
    assert [d["day"] for d in stats["points_per_day"]] == ["2026-03-01", "2026-03-02"]
    assert [d["issued"] for d in stats["points_per_day"]] == [0, 5]
    assert stats["daily_active_members"][-1] == {"day": "2026-03-02", "count": 1}
