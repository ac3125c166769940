"""Lists that grow with use page by cursor (API.md: ?limit=1..100, ?cursor= → {items, next_cursor}): walked two at a
time, each gives every item once in its stated order, and a cursor that is not one of its own is a 400."""

from datetime import timedelta

import pytest

from c2b.review_rounds import ReviewRound
from kernel import clock
from kernel.db import db
from operations.campaigns import Application, Share
from operations.data_export import DataExport
from tests.api.test_ideas import _published
from tests.api.test_operations import _officer_campaign
from tests.api.test_presale import _campaign, _draft
from tests.api.test_rewards import _lottery, _reward


def _walk(client, path: str, headers: dict | None = None, **query) -> list[dict]:
    """Every item of a list, two to a page, checking each page's envelope."""
    items, cursor, pages = [], None, 0
    while True:
        params = {**query, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, query_string=params, headers=headers or {})
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= 2
        items += page["items"]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            return items
        assert pages < 20, "the cursor does not move on"


def _refuses_foreign_cursors(client, path: str, headers: dict | None = None) -> None:
    for cursor in ("not-a-cursor", "WyJ2IiwxXQ"):  # garbage, and a well-formed cursor of the wrong width
        answer = client.get(path, query_string={"cursor": cursor}, headers=headers or {})
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_cursor", answer.get_json()
    assert client.get(path, query_string={"limit": 101}, headers=headers or {}).status_code == 422


def test_officer_campaigns_their_applications_and_shares_page(app, client, members, png_bytes, frozen_clock):
    operator = members.create(role="operator")
    made = [_officer_campaign(client, operator, frozen_clock, title=f"体验官招募 {n}") for n in range(5)]
    listed = _walk(client, "/api/v1/campaigns")
    assert [c["id"] for c in listed] == [c["id"] for c in reversed(made)]  # newest first
    _refuses_foreign_cursors(client, "/api/v1/campaigns")

    campaign = made[0]
    applicants = [members.create() for _ in range(5)]
    screenshot = client.post(
        "/api/v1/media", data={"file": (png_bytes(), "s.png")}, headers=applicants[0].headers
    ).get_json()
    with app.app_context():
        for n, member in enumerate(applicants):
            at = clock.now() + timedelta(minutes=n)
            db.session.add(Application(campaign_id=campaign["id"], user_id=member.id, answers={}, created_at=at))
            status = "approved" if n % 2 else "pending"
            url = f"https://example.com/{n}"
            db.session.add(
                Share(
                    campaign_id=campaign["id"],
                    user_id=member.id,
                    url=url,
                    screenshot_id=screenshot["id"],
                    status=status,
                    created_at=at,
                )
            )
        db.session.commit()
    applications = f"/api/v1/campaigns/{campaign['id']}/applications"
    assert [a["user_id"] for a in _walk(client, applications, operator.headers)] == [m.id for m in applicants]
    assert client.get(applications, headers=applicants[0].headers).status_code == 403
    _refuses_foreign_cursors(client, applications, operator.headers)
    shares = f"/api/v1/campaigns/{campaign['id']}/shares"
    assert [s["url"][-1] for s in _walk(client, shares, operator.headers)] == list("01234")  # in the order they came
    pending = _walk(client, shares, operator.headers, status="pending")
    assert [s["url"][-1] for s in pending] == list("024")
    assert client.get("/api/v1/campaigns/999999/shares", headers=operator.headers).status_code == 404


def test_polls_and_presales_page_with_their_idea_filter(client, members, png_bytes, frozen_clock):
    product = members.create(role="product")
    idea, _ = _published(client, members, png_bytes)
    polls = []
    for n in range(5):
        body = {
            "title": f"配色投票 {n}",
            "closes_at": (frozen_clock + timedelta(days=7)).isoformat(),
            "options": [{"name": "红"}, {"name": "蓝"}],
            **({"idea_id": idea["id"]} if n % 2 == 0 else {}),
        }
        created = client.post("/api/v1/polls", json=body, headers=product.headers)
        assert created.status_code == 201, created.get_json()
        polls.append(created.get_json())
    assert [p["id"] for p in _walk(client, "/api/v1/polls")] == [p["id"] for p in reversed(polls)]
    of_idea = _walk(client, "/api/v1/polls", idea_id=idea["id"])
    assert [p["id"] for p in of_idea] == [polls[4]["id"], polls[2]["id"], polls[0]["id"]]
    assert all(len(p["options"]) == 2 for p in of_idea)  # each page still comes with its options and results
    _refuses_foreign_cursors(client, "/api/v1/polls")

    campaigns = [_campaign(client, product, frozen_clock, title=f"预售 {n}") for n in range(3)]
    draft = _draft(client, product, frozen_clock, title="草稿")
    public = [c["id"] for c in reversed(campaigns)]
    assert [c["id"] for c in _walk(client, "/api/v1/presales")] == public  # drafts stay with the product team
    assert [c["id"] for c in _walk(client, "/api/v1/presales", product.headers)] == [draft["id"], *public]
    _refuses_foreign_cursors(client, "/api/v1/presales")


def test_rewards_lotteries_and_review_rounds_page(app, client, members, frozen_clock):
    operator, product = members.create(role="operator"), members.create(role="product")
    prices = [50, 10, 30, 10, 20]
    rewards = [_reward(client, operator, name=f"奖品 {n}", price_points=p) for n, p in enumerate(prices)]
    listed = _walk(client, "/api/v1/rewards")
    by_price = sorted(rewards, key=lambda r: (r["price_points"], r["id"]))  # cheapest first, then the first made
    assert [r["id"] for r in listed] == [r["id"] for r in by_price]
    _refuses_foreign_cursors(client, "/api/v1/rewards")

    lotteries = [_lottery(client, operator, frozen_clock, name=f"抽奖 {n}") for n in range(3)]
    listed = _walk(client, "/api/v1/lotteries")
    assert [x["id"] for x in listed] == [x["id"] for x in reversed(lotteries)]
    assert all(x["seed"] is None and x["seed_commitment"] for x in listed)  # seeds stay hidden until revealed
    _refuses_foreign_cursors(client, "/api/v1/lotteries")

    with app.app_context():
        now = clock.now()
        rounds = [
            ReviewRound(
                name=f"第 {n} 轮",
                cutoff_at=now + timedelta(days=n),
                results_at=now + timedelta(days=n + 1),
                state="published",
                created_by=product.id,
                created_at=now,
            )
            for n in range(3)
        ]
        db.session.add_all(rounds)
        db.session.commit()
        round_ids = [r.id for r in rounds]
    assert [r["id"] for r in _walk(client, "/api/v1/review-rounds")] == list(reversed(round_ids))
    _refuses_foreign_cursors(client, "/api/v1/review-rounds")


def test_a_members_sanctions_and_an_ideas_updates_page(client, members, png_bytes):
    moderator, member = members.create(role="moderator"), members.create()
    url = f"/api/v1/users/{member.id}/sanctions"
    for kind, extra in (("mute", {"hours": 2}), ("unmute", {}), ("mute", {"hours": 3}), ("unmute", {})):
        sanctioned = client.post(url, json={"kind": kind, "reason": "测试", **extra}, headers=moderator.headers)
        assert sanctioned.status_code == 201, sanctioned.get_json()
    assert [s["kind"] for s in _walk(client, url, moderator.headers)] == ["unmute", "mute", "unmute", "mute"]
    assert client.get(url, headers=member.headers).status_code == 403
    _refuses_foreign_cursors(client, url, moderator.headers)

    idea, creator = _published(client, members, png_bytes)
    updates = f"/api/v1/ideas/{idea['id']}/updates"
    posted = []
    for n in range(3):
        answer = client.post(updates, json={"title": f"进展 {n}", "body": "样品进展顺利"}, headers=creator.headers)
        assert answer.status_code == 201, answer.get_json()
        posted.append(answer.get_json()["id"])
    assert [u["id"] for u in _walk(client, updates)] == list(reversed(posted))
    _refuses_foreign_cursors(client, updates)


def test_a_members_data_exports_page_and_stay_their_own(app, client, members):
    member, other = members.create(), members.create()
    with app.app_context():
        now = clock.now()
        exports = [DataExport(user_id=member.id, format="json", status="expired", created_at=now) for _ in range(3)]
        db.session.add_all([*exports, DataExport(user_id=other.id, format="zip", created_at=now)])
        db.session.commit()
        mine = [e.id for e in exports]
    listed = _walk(client, "/api/v1/me/data-exports", member.headers)
    assert [e["id"] for e in listed] == list(reversed(mine)) and all(e["download"] is None for e in listed)
    _refuses_foreign_cursors(client, "/api/v1/me/data-exports", member.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns",
        "/api/v1/polls",
        "/api/v1/presales",
        "/api/v1/rewards",
        "/api/v1/lotteries",
        "/api/v1/review-rounds",
    ],
)
def test_an_empty_list_is_one_page(client, path):
    assert client.get(path).get_json() == {"items": [], "next_cursor": None}
