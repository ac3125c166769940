"""Operators oversee the community: they read every team's queue and figures, and decide nothing that belongs to
moderators or the product team."""

from sqlalchemy import select

from api.demo import DEMO_PASSWORD
from api.demo_catalogue import DEMO_IDEAS, HELD_POST_TITLE
from c2b.ideas import Idea
from c2b.presale import Campaign
from forum.posts import Post
from kernel.db import db


def test_operators_read_every_queue_and_decide_none(app, client):
    assert app.test_cli_runner().invoke(args=["seed", "demo"]).exit_code == 0
    signed_in = client.post("/api/v1/auth/login", json={"username": "operator", "password": DEMO_PASSWORD})
    operator = {"Authorization": f"Bearer {signed_in.get_json()['access_token']}"}
    with app.app_context():
        held = db.session.scalar(select(Post.id).where(Post.title == HELD_POST_TITLE))
        waiting = db.session.scalar(select(Idea.id).where(Idea.title == DEMO_IDEAS[1][0]))
        campaign = db.session.scalar(select(Campaign.id))

    queue = client.get("/api/v1/moderation/queue", headers=operator).get_json()["items"]
    assert held in [item["subject_id"] for item in queue if item["subject_type"] == "post"]
    assert client.get("/api/v1/moderation/reports?status=open", headers=operator).get_json()["items"]
    assert waiting in [i["id"] for i in client.get("/api/v1/ideas/review-queue", headers=operator).get_json()["items"]]
    assert client.get("/api/v1/ideas/top", headers=operator).get_json()["items"]
    assert client.get(f"/api/v1/ideas/{waiting}/demand", headers=operator).get_json()["supporters"] >= 1
    assert client.get("/api/v1/payments/anomalies", headers=operator).status_code == 200
    not_settled = client.get(f"/api/v1/presales/{campaign}/manifest", headers=operator)
    assert not_settled.status_code == 409  # readable, once the pre-sale has succeeded

    refused = [
        client.post(
            "/api/v1/moderation/actions",
            json={"action": "approve", "target_type": "post", "target_id": held},
            headers=operator,
        ),
        client.post(f"/api/v1/ideas/{waiting}/decision", json={"decision": "start_review"}, headers=operator),
        client.get(f"/api/v1/presales/{campaign}/shipping?format=csv", headers=operator),  # addresses: fulfilment
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
