def test_the_demo_shows_a_living_community_and_seeding_twice_changes_nothing(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "demo"])
    assert first.exit_code == 0, first.output
    assert "0 new record(s)" in runner.invoke(args=["seed", "demo"]).output

    catalogue = client.get("/api/v1/badges").get_json()["items"]
    assert len(catalogue) >= 10 and {b["tier"] for b in catalogue} == {"bronze", "silver", "gold"}
    listed = client.get("/api/v1/ideas?limit=100").get_json()["items"]
    assert {i["status"] for i in listed} >= {"supporting", "approved"}
    assert all(i["supporter_count"] >= 3 for i in listed)
    assert "中国传统节日" in "".join(i["title"] for i in listed)  # Chinese demo text
    polls = client.get("/api/v1/polls").get_json()["items"]
    assert polls and sum(o["vote_count"] for o in polls[0]["options"]) == 3
    campaigns = client.get("/api/v1/presales").get_json()["items"]
    assert [c["status"] for c in campaigns] == ["open"] and campaigns[0]["reserved_quantity"] == 2
    posts = client.get("/api/v1/posts?sort=latest").get_json()["items"]
    assert len(posts) >= 4 and any(p["reply_count"] >= 2 for p in posts)

    product = client.post("/api/v1/auth/login", json={"username": "product", "password": "demo-password"}).get_json()
    top = client.get("/api/v1/ideas/top", headers={"Authorization": f"Bearer {product['access_token']}"})
    assert top.status_code == 200 and top.get_json()["items"]
