import io
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kernel import clock
from kernel.db import db
from tests.conftest import postgres_only
from tests.support import upload_image

LONG = "一个可以互相拼接的中国传统节日系列：端午龙舟、中秋赏月、春节舞狮。"


@pytest.fixture()
def idea_rules(settings):
    settings(
        IDEA_MILESTONES=[[2, 30], [3, 10], [4, None]],
        IDEA_VERIFIED_MIN_LEVEL=1,
        IDEA_VERIFIED_MIN_AGE_DAYS=0,
        IDEA_INITIAL_DAYS=60,
    )


def _submit(client, member, png_bytes, title="传统节日系列") -> dict:
    response = client.post(
        "/api/v1/ideas",
        headers=member.headers,
        json={
            "title": title,
            "description": LONG,
            "category": "building_sets",
            "image_ids": [upload_image(client, member, png_bytes)],
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _moderate(client, mod, idea_id, action, reason=""):
    return client.post(
        "/api/v1/moderation/actions",
        headers=mod.headers,
        json={"action": action, "target_type": "idea", "target_id": idea_id, "reason": reason},
    )


def _published(client, members, png_bytes, creator=None) -> tuple[dict, object]:
    creator = creator or members.create()
    mod = members.create(role="moderator")
    idea = _submit(client, creator, png_bytes)
    assert _moderate(client, mod, idea["id"], "approve").status_code == 200
    return client.get(f"/api/v1/ideas/{idea['id']}").get_json(), creator


def test_submission_review_rejection_and_resubmission(client, members, png_bytes, frozen_clock):
    creator, stranger = members.create(), members.create()
    mod, board_mod_only = members.create(role="moderator"), members.create()
    no_images = client.post(
        "/api/v1/ideas",
        headers=creator.headers,
        json={"title": "No pictures", "description": LONG, "category": "figures", "image_ids": []},
    )
    assert no_images.status_code == 422
    idea = _submit(client, creator, png_bytes)
    assert idea["status"] == "pending_review"
    assert client.get(f"/api/v1/ideas/{idea['id']}").status_code == 404
    assert client.get(f"/api/v1/ideas/{idea['id']}", headers=stranger.headers).status_code == 404
    queue = client.get("/api/v1/moderation/queue?subject_type=idea", headers=mod.headers).get_json()["items"]
    assert [(i["subject_id"], i["reason"]) for i in queue] == [(idea["id"], "idea")]
    assert _moderate(client, board_mod_only, idea["id"], "approve").status_code == 403
    assert _moderate(client, mod, idea["id"], "reject").status_code == 422
    assert _moderate(client, mod, idea["id"], "reject", "请补充细节图").status_code == 200
    mine = client.get(f"/api/v1/ideas/{idea['id']}", headers=creator.headers).get_json()
    assert mine["status"] == "rejected" and mine["rejection_reason"] == "请补充细节图"
    assert (
        client.patch(f"/api/v1/ideas/{idea['id']}", json={"title": "hijack it"}, headers=stranger.headers).status_code
        == 404
    )
    resubmitted = client.patch(
        f"/api/v1/ideas/{idea['id']}", json={"title": "传统节日系列 v2"}, headers=creator.headers
    )
    assert resubmitted.get_json()["status"] == "pending_review"
    assert _moderate(client, mod, idea["id"], "approve").get_json()["status"] == "supporting"
    public = client.get(f"/api/v1/ideas/{idea['id']}").get_json()
    assert public["deadline_at"].startswith((frozen_clock + timedelta(days=60)).date().isoformat())
    assert (
        client.patch(
            f"/api/v1/ideas/{idea['id']}", json={"title": "changed later"}, headers=creator.headers
        ).status_code
        == 409
    )
    assert _moderate(client, mod, idea["id"], "approve").status_code == 409


def test_an_idea_shows_its_creator_and_its_images_in_order_wherever_it_is_read(client, members, png_bytes, idea_rules):
    creator, fan, mod = members.create(), members.create(), members.create(role="moderator")
    # Three different files, given in the order to show them.
    images = [upload_image(client, creator, png_bytes, size=(width, 30)) for width in (41, 42, 43)]
    shown = [images[2], images[0], images[1]]
    idea = client.post(
        "/api/v1/ideas",
        headers=creator.headers,
        json={"title": "三张图的创意", "description": LONG, "category": "figures", "image_ids": shown},
    ).get_json()
    assert _moderate(client, mod, idea["id"], "approve").status_code == 200
    read = client.get(f"/api/v1/ideas/{idea['id']}").get_json()
    supported = client.put(f"/api/v1/ideas/{idea['id']}/support", json={"would_buy": 1}, headers=fan.headers)
    assert supported.status_code == 200
    for body in (read, supported.get_json()):
        assert [image["id"] for image in body["images"]] == shown
        assert [image["width"] for image in body["images"]] == [43, 41, 42]
        assert body["creator"]["id"] == creator.id
    assert supported.get_json()["supporter_count"] == 1
    assert client.get("/api/v1/ideas/999999").get_json()["error"]["code"] == "idea_not_found"


def test_support_once_not_own_with_survey_and_withdrawal(client, members, png_bytes, idea_rules):
    idea, creator = _published(client, members, png_bytes)
    fan = members.create()
    url = f"/api/v1/ideas/{idea['id']}/support"
    assert client.put(url, json={}, headers=creator.headers).status_code == 403
    first = client.put(url, json={"would_buy": 2, "price_cents": 29900}, headers=fan.headers).get_json()
    again = client.put(url, json={"would_buy": 3, "price_cents": 25900}, headers=fan.headers).get_json()
    assert first["supporter_count"] == again["supporter_count"] == 1
    assert again["viewer"] == {"supported": True, "would_buy": 3, "price_cents": 25900}
    assert client.put(url, json={"would_buy": 11}, headers=fan.headers).status_code == 422
    assert client.delete(url, headers=fan.headers).get_json()["supporter_count"] == 0
    assert client.delete(url, headers=fan.headers).get_json()["supporter_count"] == 0


def test_milestones_extend_deadlines_then_expiry_reads_before_the_job(
    app, client, members, png_bytes, idea_rules, frozen_clock
):
    idea, creator = _published(client, members, png_bytes)
    url = f"/api/v1/ideas/{idea['id']}/support"
    clock.advance(timedelta(days=10))
    for fan in (members.create(), members.create()):
        client.put(url, json={}, headers=fan.headers)
    reached = client.get(f"/api/v1/ideas/{idea['id']}").get_json()
    assert reached["milestones_reached"] == 1 and reached["next_milestone"] == {"supporters": 3, "extension_days": 10}
    assert reached["deadline_at"].startswith((frozen_clock + timedelta(days=40)).date().isoformat())
    creator_points = client.get("/api/v1/me/points", headers=creator.headers).get_json()["balance"]
    assert creator_points == 100  # the idea_milestone_reached rule
    clock.advance(timedelta(days=31))  # past the deadline; the job has not run
    late = members.create()
    assert client.get(f"/api/v1/ideas/{idea['id']}").get_json()["status"] == "expired"
    refused = client.put(url, json={}, headers=late.headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "idea_not_supporting"
    assert [i["id"] for i in client.get("/api/v1/ideas?status=expired").get_json()["items"]] == [idea["id"]]
    result = app.test_cli_runner().invoke(args=["ideas", "expire"])
    assert "expired 1 idea(s)" in result.output
    notes = client.get("/api/v1/me/notifications", headers=creator.headers).get_json()["items"]
    assert any(n["kind"] == "idea" and "未能在期限内达到支持目标" in n["message"] for n in notes)


def test_unverified_supports_are_shown_separately(client, members, png_bytes, settings):
    settings(
        IDEA_SUPPORT_POLICY="verified",
        IDEA_VERIFIED_MIN_LEVEL=1,
        IDEA_VERIFIED_MIN_AGE_DAYS=7,
        IDEA_MILESTONES=[[1, 30], [5, None]],
    )
    idea, _ = _published(client, members, png_bytes)
    newcomer = members.create()  # registered just now: recorded, not verified
    body = client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=newcomer.headers).get_json()
    assert body["supporter_count"] == 1 and body["verified_supporter_count"] == 0
    assert body["milestones_reached"] == 0


def test_qualification_and_product_decisions(client, members, png_bytes, idea_rules):
    idea, creator = _published(client, members, png_bytes)
    fans = [members.create() for _ in range(4)]
    for fan in fans:
        client.put(
            f"/api/v1/ideas/{idea['id']}/support", json={"would_buy": 1, "price_cents": 19900}, headers=fan.headers
        )
    qualified = client.get(f"/api/v1/ideas/{idea['id']}").get_json()
    assert qualified["status"] == "qualified" and qualified["deadline_at"] is None
    product, member, mod = members.create(role="product"), members.create(), members.create(role="moderator")
    url = f"/api/v1/ideas/{idea['id']}/decision"
    assert client.post(url, json={"decision": "start_review"}, headers=member.headers).status_code == 403
    assert client.post(url, json={"decision": "start_review"}, headers=mod.headers).status_code == 403
    assert client.post(url, json={"decision": "approve", "feedback": "yes"}, headers=product.headers).status_code == 409
    queue = client.get("/api/v1/ideas/review-queue", headers=product.headers).get_json()["items"]
    assert [i["id"] for i in queue] == [idea["id"]]
    assert (
        client.post(url, json={"decision": "start_review"}, headers=product.headers).get_json()["status"] == "in_review"
    )
    assert client.post(url, json={"decision": "approve"}, headers=product.headers).status_code == 422
    approved = client.post(url, json={"decision": "approve", "feedback": "明年春季上市"}, headers=product.headers)
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["decision_feedback"] == "明年春季上市"
    assert (
        client.post(url, json={"decision": "not_approve", "feedback": "x"}, headers=product.headers).status_code == 409
    )
    fan_notes = client.get("/api/v1/me/notifications", headers=fans[0].headers).get_json()["items"]
    messages = [n["message"] for n in fan_notes]
    # A decision reaches backers in words, with the product team's feedback, never as a status code.
    assert any(m.endswith("通过评审，将进入产品化。产品团队反馈：明年春季上市") for m in messages)
    assert any("已达到支持目标，进入产品评审" in m for m in messages)
    assert not any("approved" in m or "qualified" in m for m in messages)
    assert client.get("/api/v1/me/points", headers=creator.headers).get_json()["balance"] >= 500


def test_updates_and_comments(client, members, png_bytes, idea_rules):
    idea, creator = _published(client, members, png_bytes)
    fan, other = members.create(), members.create()
    client.put(f"/api/v1/ideas/{idea['id']}/support", json={}, headers=fan.headers)
    url = f"/api/v1/ideas/{idea['id']}/updates"
    assert client.post(url, json={"title": "x", "body": "y"}, headers=other.headers).status_code == 403
    assert (
        client.post(url, json={"title": "样品进展", "body": "已完成 3D 打印"}, headers=creator.headers).status_code
        == 201
    )
    assert [u["title"] for u in client.get(url).get_json()["items"]] == ["样品进展"]
    notes = client.get("/api/v1/me/notifications", headers=fan.headers).get_json()["items"]
    assert notes[0]["kind"] == "idea" and "样品进展" in notes[0]["message"]
    assert client.get("/api/v1/me/notifications", headers=other.headers).get_json()["items"] == []
    curl = f"/api/v1/ideas/{idea['id']}/comments"
    assert client.post(curl, json={"body": "想要！"}, headers=other.headers).status_code == 201
    assert [c["body"] for c in client.get(curl).get_json()["items"]] == ["想要！"]


def test_demand_report_and_top_csv(client, members, png_bytes, idea_rules, set_level):
    idea, _ = _published(client, members, png_bytes)
    answers = [(2, 19900), (1, 25900), (0, None), (None, 29900)]
    for i, (units, price) in enumerate(answers):
        fan = members.create()
        set_level(fan.id, 3 if i < 2 else 1)
        client.put(
            f"/api/v1/ideas/{idea['id']}/support", json={"would_buy": units, "price_cents": price}, headers=fan.headers
        )
    product = members.create(role="product")
    member = members.create()
    assert client.get(f"/api/v1/ideas/{idea['id']}/demand", headers=member.headers).status_code == 403
    report = client.get(f"/api/v1/ideas/{idea['id']}/demand?min_level=3", headers=product.headers).get_json()
    assert report["supporters"] == 4 and report["supporters_at_min_level"] == 2
    assert report["would_buy_units"] == 3 and report["would_buy_respondents"] == 3
    assert report["median_price_cents"] == 25900 and report["price_respondents"] == 3
    assert sum(p["supports"] for p in report["velocity"]) == 4
    as_json = client.get("/api/v1/ideas/top", headers=product.headers).get_json()
    assert as_json["items"][0]["idea_id"] == idea["id"]
    sneaky = members.create()
    mod = members.create(role="moderator")
    evil = _submit(client, sneaky, png_bytes, title='=HYPERLINK("x")')
    _moderate(client, mod, evil["id"], "approve")
    response = client.get("/api/v1/ideas/top?format=csv", headers=product.headers)
    assert response.headers["Content-Type"].startswith("text/csv")
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert (
        text.splitlines()[0] == "idea_id,title,status,supporters,verified_supporters,would_buy_units,"
        "median_price_cents,supports_last_7_days"
    )
    assert "传统节日系列" in text and "'=HYPERLINK" in text
    assert client.get("/api/v1/ideas/top?format=xml", headers=product.headers).status_code == 422
    assert io  # csv read back above


def test_listing_and_sorting(client, members, png_bytes, idea_rules):
    first, _ = _published(client, members, png_bytes)
    second, _ = _published(client, members, png_bytes)
    client.put(f"/api/v1/ideas/{second['id']}/support", json={}, headers=members.create().headers)
    assert [i["id"] for i in client.get("/api/v1/ideas?sort=supporters").get_json()["items"]] == [
        second["id"],
        first["id"],
    ]
    assert [i["id"] for i in client.get("/api/v1/ideas?sort=newest").get_json()["items"]] == [second["id"], first["id"]]
    assert client.get("/api/v1/ideas?sort=random").status_code == 422


def test_a_support_writes_the_trend_with_its_count(app, client, members, png_bytes, idea_rules):
    from c2b.ideas import Idea, _trend

    older, _ = _published(client, members, png_bytes)
    newer, _ = _published(client, members, png_bytes)
    for _ in range(3):
        client.put(f"/api/v1/ideas/{older['id']}/support", json={}, headers=members.create().headers)
    with app.app_context():
        idea = db.session.get(Idea, older["id"])
        assert idea.verified_supporter_count == 3
        # The counting UPDATE computes it in SQL: the same value the Python rule gives (to its 7 decimals).
        assert idea.trend_score == pytest.approx(_trend(idea), abs=1e-7)
        assert idea.trend_score > db.session.get(Idea, newer["id"]).trend_score
    trending = client.get("/api/v1/ideas?sort=trending").get_json()["items"]
    assert [i["id"] for i in trending] == [older["id"], newer["id"]]


def _rush(app, idea_id, fans):
    barrier = threading.Barrier(len(fans) * 2)
    codes = []

    def support(fan):
        c = app.test_client()
        barrier.wait()
        codes.append(c.put(f"/api/v1/ideas/{idea_id}/support", json={"would_buy": 1}, headers=fan.headers).status_code)

    threads = [threading.Thread(target=support, args=(f,)) for f in fans for _ in range(2)]  # each fan taps twice
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return codes


@postgres_only
def test_concurrent_supports_are_counted_exactly(app, client, members, png_bytes, settings):
    settings(IDEA_MILESTONES=[[5, 30], [10, 10], [100, None]], IDEA_VERIFIED_MIN_LEVEL=1, IDEA_VERIFIED_MIN_AGE_DAYS=0)
    idea, _ = _published(client, members, png_bytes)
    codes = _rush(app, idea["id"], [members.create() for _ in range(30)])
    assert codes.count(200) == 60
    with app.app_context():
        from c2b.ideas import Idea, IdeaSupport
        from kernel.outbox import Event

        stored = db.session.get(Idea, idea["id"])
        rows = db.session.scalar(select(func.count()).where(IdeaSupport.idea_id == idea["id"]))
        assert rows == stored.supporter_count == stored.verified_supporter_count == 30
        assert stored.milestones_reached == 2
        assert db.session.scalar(select(func.count()).where(Event.type == "idea_milestone_reached")) == 2


@postgres_only
def test_no_support_lands_after_the_idea_qualifies(app, client, members, png_bytes, idea_rules):
    idea, _ = _published(client, members, png_bytes)
    codes = _rush(app, idea["id"], [members.create() for _ in range(20)])
    assert 4 <= codes.count(200) <= 8  # the qualifying four, and their own second taps
    with app.app_context():
        from c2b.ideas import Idea, IdeaSupport

        stored = db.session.get(Idea, idea["id"])
        rows = db.session.scalar(select(func.count()).where(IdeaSupport.idea_id == idea["id"]))
        assert stored.status == "qualified" and rows == stored.supporter_count == 4
