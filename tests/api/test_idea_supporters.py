"""Every fan's support counts (or, by setting, only verified ones, checked live); ideas can be found and listed."""

from datetime import timedelta

from sqlalchemy import select

from kernel import clock
from kernel.db import db
from tests.api.test_ideas import _moderate, _published, _submit
from tests.conftest import postgres_only
from tests.support import run_concurrently


def _support(client, idea, member, **survey):
    return client.put(f"/api/v1/ideas/{idea['id']}/support", json=survey, headers=member.headers)


def _idea(client, idea):
    return client.get(f"/api/v1/ideas/{idea['id']}").get_json()


def test_with_default_settings_a_brand_new_member_moves_an_idea(client, members, png_bytes, settings):
    settings(IDEA_MILESTONES=[[2, 30], [3, None]])
    idea, _ = _published(client, members, png_bytes)
    newcomer = members.create()  # registered a moment ago, level 1
    assert _support(client, idea, newcomer).status_code == 200
    shown = _idea(client, idea)
    assert shown["supporter_count"] == 1 and shown["milestones_reached"] == 0
    _support(client, idea, members.create())
    assert _idea(client, idea)["milestones_reached"] == 1  # every supporter counts, as on LEGO Ideas


def test_verified_counting_is_live(app, client, members, png_bytes, settings, set_level):
    settings(IDEA_SUPPORT_POLICY="verified", IDEA_VERIFIED_MIN_AGE_DAYS=0, IDEA_MILESTONES=[[1, 30], [5, None]])
    idea, _ = _published(client, members, png_bytes)
    fan, moderator = members.create(), members.create(role="admin")
    _support(client, idea, fan)
    shown = _idea(client, idea)
    assert (shown["supporter_count"], shown["verified_supporter_count"], shown["milestones_reached"]) == (1, 0, 0)
    set_level(fan.id, 3)  # the member qualifies later: the next recount counts them
    assert "recounted 1 idea(s)" in app.test_cli_runner().invoke(args=["ideas", "recount"]).output
    shown = _idea(client, idea)
    assert (shown["verified_supporter_count"], shown["milestones_reached"]) == (1, 1)
    banned = client.post(
        f"/api/v1/users/{fan.id}/sanctions", json={"kind": "ban", "reason": "刷票"}, headers=moderator.headers
    )
    assert banned.status_code == 201, banned.get_json()
    shown = _idea(client, idea)
    assert (shown["supporter_count"], shown["verified_supporter_count"]) == (0, 0)  # a ban stops the count at once
    assert shown["milestones_reached"] == 1  # a milestone reached stays reached
    client.post(
        f"/api/v1/users/{fan.id}/sanctions", json={"kind": "unban", "reason": "申诉成功"}, headers=moderator.headers
    )
    assert _idea(client, idea)["verified_supporter_count"] == 1


def test_young_accounts_wait_and_staff_are_not_demand(client, members, png_bytes, settings):
    settings(IDEA_SUPPORT_MIN_ACCOUNT_HOURS=24, IDEA_MILESTONES=[[100, 30], [1000, None]])
    idea, creator = _published(client, members, png_bytes)
    newcomer = members.create()
    refused = _support(client, idea, newcomer)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "account_too_new"
    operator, fan = members.create(role="operator"), members.create()
    clock.set_now(clock.now() + timedelta(hours=25))  # a day later they may support
    try:
        assert _support(client, idea, operator, would_buy=10, price_cents=1).status_code == 200  # a staff test
        assert _support(client, idea, fan, would_buy=2, price_cents=29900).status_code == 200
    finally:
        clock.set_now(None)
    report = client.get(f"/api/v1/ideas/{idea['id']}/demand", headers=creator.headers).get_json()
    assert (report["supporters"], report["would_buy_units"], report["median_price_cents"]) == (1, 2, 29900)
    assert report["min_level"] == 3  # one default: the verified supporter's level
    assert sum(point["supports"] for point in report["velocity"]) == 1  # per day, for a chart
    assert client.get(f"/api/v1/ideas/{idea['id']}/demand", headers=fan.headers).status_code == 403
    levels = client.get("/api/v1/economy/levels").get_json()["items"]
    assert [lvl["number"] for lvl in levels if "verified idea supporter" in lvl["privileges"]] == [3]


def test_search_and_my_lists(client, members, png_bytes):
    creator, fan, mod = members.create(), members.create(), members.create(role="moderator")
    dragon, _ = _published(client, members, png_bytes, creator=creator)
    pending = _submit(client, creator, png_bytes, title="另一个想法草稿")
    assert _moderate(client, mod, pending["id"], "reject", "请补充细节图").status_code == 200
    found = client.get("/api/v1/ideas?q=节日").get_json()["items"]
    assert [i["id"] for i in found] == [dragon["id"]]
    assert client.get("/api/v1/ideas?q=100%").get_json()["items"] == []  # % is literal
    assert client.get("/api/v1/ideas?category=apparel").get_json()["items"] == []
    mine = client.get("/api/v1/me/ideas", headers=creator.headers).get_json()["items"]
    assert {i["id"]: i["status"] for i in mine} == {dragon["id"]: "supporting", pending["id"]: "rejected"}
    assert next(i for i in mine if i["id"] == pending["id"])["rejection_reason"] == "请补充细节图"
    _support(client, dragon, fan, would_buy=1)
    supports = client.get("/api/v1/me/supports", headers=fan.headers).get_json()["items"]
    assert [(s["idea"]["id"], s["would_buy"]) for s in supports] == [(dragon["id"], 1)]
    other = _submit(client, creator, png_bytes, title="等待审核的想法")
    queue = client.get("/api/v1/moderation/queue?subject_type=idea", headers=mod.headers).get_json()["items"]
    shown = next(item for item in queue if item["subject_id"] == other["id"])
    assert shown["subject"]["title"] == "等待审核的想法" and shown["subject"]["excerpt"]


@postgres_only
def test_supports_racing_a_recount_keep_exact_counts(app, client, members, png_bytes, settings):
    settings(IDEA_MILESTONES=[[1000, 30], [5000, None]])
    idea, _ = _published(client, members, png_bytes)
    fans = [members.create() for _ in range(24)]

    def support(member):
        return lambda c: _support(c, idea, member).status_code

    def recount(c):
        with app.app_context():
            from c2b import ideas

            return ideas.recount_supporting(clock.now())

    results = run_concurrently(app, [support(m) for m in fans] + [recount] * 4)
    assert results.count(200) == 24
    with app.app_context():
        from c2b.ideas import Idea, IdeaSupport

        stored = db.session.get(Idea, idea["id"])
        rows = db.session.scalars(select(IdeaSupport).where(IdeaSupport.idea_id == idea["id"])).all()
        assert stored.supporter_count == len(rows) == 24


def test_idea_comments_and_updates_are_moderated_like_replies(client, members, png_bytes):
    from tests.api.test_moderation import _act, _words

    operator, mod, product = (
        members.create(role="operator"),
        members.create(role="moderator"),
        members.create(role="product"),
    )
    _words(client, operator, [{"word": "赌博", "action": "block"}, {"word": "代购", "action": "review"}])
    idea, creator = _published(client, members, png_bytes)
    fan, other = members.create(), members.create()
    url = f"/api/v1/ideas/{idea['id']}/comments"
    blocked = client.post(url, json={"body": "来赌博吧"}, headers=fan.headers)
    assert blocked.status_code == 422
    held = client.post(url, json={"body": "有人代购吗"}, headers=fan.headers).get_json()
    assert held["status"] == "pending_review"
    fine = client.post(url, json={"body": "这个创意太棒了"}, headers=fan.headers).get_json()
    assert [c["id"] for c in client.get(url).get_json()["items"]] == [fine["id"]]
    queue = client.get("/api/v1/moderation/queue?subject_type=idea_comment", headers=mod.headers).get_json()["items"]
    assert [(i["subject_id"], i["subject"]["excerpt"]) for i in queue] == [(held["id"], "有人代购吗")]
    assert _act(client, product, "approve", held["id"], "idea_comment").status_code == 200  # product staff review
    assert len(client.get(url).get_json()["items"]) == 2
    # Reported, then hidden by a moderator (a board moderator is not an idea reviewer).
    report = client.post(
        "/api/v1/reports",
        json={"target_type": "idea_comment", "target_id": fine["id"], "reason": "spam"},
        headers=other.headers,
    )
    assert report.status_code == 201, report.get_json()
    assert _act(client, other, "hide", fine["id"], "idea_comment", reason="广告").status_code == 403
    assert _act(client, mod, "hide", fine["id"], "idea_comment", reason="广告").status_code == 200
    assert [c["id"] for c in client.get(url).get_json()["items"]] == [held["id"]]
    # Authors delete their own comments; nobody else can.
    assert client.delete(f"{url}/{held['id']}", headers=other.headers).status_code == 403
    assert client.delete(f"{url}/{held['id']}", headers=fan.headers).status_code == 204
    assert client.get(url).get_json()["items"] == []
    # A creator's update with a listed word waits for review, and supporters hear of it only once it is public.
    client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=fan.headers)
    news = client.post(
        f"/api/v1/ideas/{idea['id']}/updates",
        json={"title": "样品进展", "body": "可以代购样品"},
        headers=creator.headers,
    ).get_json()
    assert news["status"] == "pending_review"
    assert client.get(f"/api/v1/ideas/{idea['id']}/updates").get_json()["items"] == []

    def heard():
        return [n["message"] for n in client.get("/api/v1/me/notifications", headers=fan.headers).get_json()["items"]]

    assert not any("样品进展" in m for m in heard())
    assert _act(client, mod, "approve", news["id"], "idea_update").status_code == 200
    assert [u["id"] for u in client.get(f"/api/v1/ideas/{idea['id']}/updates").get_json()["items"]] == [news["id"]]
    assert any("样品进展" in m for m in heard())


def test_merging_duplicates_counts_each_member_once_and_can_be_undone(client, members, png_bytes, settings):
    settings(IDEA_MILESTONES=[[5, 30], [6, None]])
    keep, keep_creator = _published(client, members, png_bytes)
    dup, dup_creator = _published(client, members, png_bytes)
    both, dup_only, keep_only = members.create(), members.create(), members.create()
    for fan, targets in ((both, (keep, dup)), (dup_only, (dup,)), (keep_only, (keep,)), (keep_creator, (dup,))):
        for idea in targets:
            assert _support(client, idea, fan).status_code == 200
    mod, stranger = members.create(role="moderator"), members.create()
    url = f"/api/v1/ideas/{dup['id']}/merge"
    assert client.post(url, json={"into_id": keep["id"]}, headers=stranger.headers).status_code == 403
    assert client.post(url, json={"into_id": dup["id"]}, headers=mod.headers).status_code == 409
    merged = client.post(url, json={"into_id": keep["id"], "reason": "重复创意"}, headers=mod.headers).get_json()
    assert merged["status"] == "merged" and merged["merged_into"] == keep["id"]
    # keep: both + keep_only before; dup_only joins; both is not counted twice; keep's own creator is not re-cast.
    assert _idea(client, keep)["supporter_count"] == 3
    assert _support(client, dup, members.create()).status_code == 409
    assert dup["id"] not in [i["id"] for i in client.get("/api/v1/ideas").get_json()["items"]]
    listed = client.get("/api/v1/ideas?status=merged").get_json()["items"]
    assert [(i["id"], i["merged_into"]) for i in listed] == [(dup["id"], keep["id"])]  # read for the page at once
    assert any(
        "合并" in n["message"]
        for n in client.get("/api/v1/me/notifications", headers=dup_only.headers).get_json()["items"]
    )
    undo = client.post(f"/api/v1/ideas/{dup['id']}/unmerge", json={"reason": "误合并"}, headers=mod.headers)
    assert undo.status_code == 200 and undo.get_json()["status"] == "supporting"
    assert _idea(client, keep)["supporter_count"] == 2  # both and keep_only, as before the merge
    assert _idea(client, dup)["supporter_count"] == 3
    client.post(url, json={"into_id": keep["id"]}, headers=mod.headers)
    for _ in range(2):
        _support(client, keep, members.create())  # 5 supporters: keep reaches its next milestone
    assert _idea(client, keep)["milestones_reached"] == 1
    final = client.post(f"/api/v1/ideas/{dup['id']}/unmerge", json={}, headers=mod.headers)
    assert final.status_code == 409 and final.get_json()["error"]["code"] == "merge_final"


def test_a_review_round_publishes_its_decisions_together(app, client, members, png_bytes, settings):
    settings(IDEA_MILESTONES=[[1, None]])
    product, fan = members.create(role="product"), members.create()
    first, _ = _published(client, members, png_bytes)
    second, _ = _published(client, members, png_bytes)
    for idea in (first, second):
        _support(client, idea, fan)
    now = clock.now()
    body = {
        "name": "2026 年第三轮评审",
        "cutoff_at": (now + timedelta(days=1)).isoformat(),
        "results_at": (now + timedelta(days=10)).isoformat(),
    }
    assert client.post("/api/v1/review-rounds", json=body, headers=fan.headers).status_code == 403
    opened = client.post("/api/v1/review-rounds", json=body, headers=product.headers)
    assert opened.status_code == 201, opened.get_json()
    assert client.post("/api/v1/review-rounds", json=body, headers=product.headers).status_code == 409
    assert _idea(client, first)["review_round"]["name"] == "2026 年第三轮评审"

    def decide(idea, decision, feedback=""):
        return client.post(
            f"/api/v1/ideas/{idea['id']}/decision",
            json={"decision": decision, "feedback": feedback},
            headers=product.headers,
        )

    for idea in (first, second):
        assert decide(idea, "start_review").get_json()["status"] == "in_review"
    assert decide(first, "approve", "明年量产").get_json()["status"] == "in_review"  # held for the round
    decide(second, "not_approve", "成本过高")
    public = _idea(client, first)
    assert public["status"] == "in_review" and public["decision_feedback"] == ""  # nobody learns it early
    heard = [n["message"] for n in client.get("/api/v1/me/notifications", headers=fan.headers).get_json()["items"]]
    assert not any("通过评审" in m for m in heard)
    runner = app.test_cli_runner()
    assert "published 0 review round(s)" in runner.invoke(args=["ideas", "publish-rounds"]).output
    clock.set_now(now + timedelta(days=11))
    try:
        assert "published 1 review round(s)" in runner.invoke(args=["ideas", "publish-rounds"]).output
    finally:
        clock.set_now(None)
    assert (_idea(client, first)["status"], _idea(client, first)["decision_feedback"]) == ("approved", "明年量产")
    assert _idea(client, second)["status"] == "not_approved"
    assert client.get("/api/v1/review-rounds").get_json()["items"][0]["state"] == "published"
    heard = [n["message"] for n in client.get("/api/v1/me/notifications", headers=fan.headers).get_json()["items"]]
    assert any("通过评审" in m and "明年量产" in m for m in heard) and any("未通过本轮评审" in m for m in heard)


def test_a_reported_idea_is_hidden_with_its_points_and_restored(client, members, png_bytes, settings):
    from tests.api.test_moderation import _act

    settings(IDEA_MILESTONES=[[1, 30], [5, None]])
    idea, creator = _published(client, members, png_bytes)
    fan, mod = members.create(), members.create(role="moderator")
    _support(client, idea, fan)  # the first milestone pays the creator (idea_milestone_reached)

    def balance():
        return client.get("/api/v1/me/points", headers=creator.headers).get_json()["balance"]

    earned = balance()
    assert earned > 0
    report = client.post(
        "/api/v1/reports", json={"target_type": "idea", "target_id": idea["id"], "reason": "spam"}, headers=fan.headers
    )
    assert report.status_code == 201, report.get_json()
    assert _act(client, mod, "hide", idea["id"], "idea", reason="抄袭").status_code == 200
    assert client.get(f"/api/v1/ideas/{idea['id']}").status_code == 404
    assert client.get(f"/api/v1/ideas/{idea['id']}", headers=creator.headers).get_json()["status"] == "hidden"
    assert balance() == 0  # clawed back
    assert _act(client, mod, "restore", idea["id"], "idea").status_code == 200
    assert _idea(client, idea)["status"] == "supporting" and balance() == earned


def test_creators_withdraw_their_ideas_and_updates(client, members, png_bytes):
    idea, creator = _published(client, members, png_bytes)
    stranger = members.create()
    news = client.post(
        f"/api/v1/ideas/{idea['id']}/updates", json={"title": "进展", "body": "样品打样中"}, headers=creator.headers
    ).get_json()
    assert (
        client.delete(f"/api/v1/ideas/{idea['id']}/updates/{news['id']}", headers=stranger.headers).status_code == 403
    )
    assert client.delete(f"/api/v1/ideas/{idea['id']}/updates/{news['id']}", headers=creator.headers).status_code == 204
    assert client.get(f"/api/v1/ideas/{idea['id']}/updates").get_json()["items"] == []
    assert client.delete(f"/api/v1/ideas/{idea['id']}", headers=stranger.headers).status_code == 403
    assert client.delete(f"/api/v1/ideas/{idea['id']}", headers=creator.headers).status_code == 204
    assert client.get(f"/api/v1/ideas/{idea['id']}").status_code == 404
