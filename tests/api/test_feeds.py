from dataclasses import fields
from datetime import timedelta

from forum import feeds
from kernel import clock, pagination
from tests.api.test_badges import _badge
from tests.support import upload_image


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [p["title"] for p in response.get_json()["items"]]


def test_latest_hot_and_featured_feeds(app, client, members, forum, frozen_clock):
    board = forum.board()
    author = members.create()
    fans = [members.create() for _ in range(5)]
    old = forum.post(author, board["id"], "old but loved")
    clock.advance(timedelta(hours=1))
    forum.post(author, board["id"], "newer and quiet")
    for fan in fans:
        client.put(f"/api/v1/posts/{old['id']}/like", headers=fan.headers)
    assert _titles(client.get("/api/v1/posts?sort=latest")) == ["newer and quiet", "old but loved"]
    assert _titles(client.get("/api/v1/posts?sort=hot")) == ["old but loved", "newer and quiet"]
    # Much later, a fresh post outranks yesterday's popular one.
    clock.advance(timedelta(days=2))
    forum.post(author, board["id"], "brand new")
    assert _titles(client.get("/api/v1/posts?sort=hot"))[0] == "brand new"
    assert _titles(client.get("/api/v1/posts?sort=featured")) == []
    with app.app_context():
        from forum.posts import Post
        from kernel.db import db

        db.session.get(Post, old["id"]).featured = True
        db.session.get(Post, old["id"]).featured_at = clock.now()
        db.session.commit()
    assert _titles(client.get("/api/v1/posts?sort=featured")) == ["old but loved"]
    assert client.get("/api/v1/posts?sort=random").status_code == 422


def test_tag_keyword_and_board_filters(client, members, forum):
    city, space = forum.board("city"), forum.board("space")
    author = members.create()
    forum.post(author, city["id"], "周末搭的城市街景", "街角咖啡店和公交站", tags=["街景"])
    forum.post(author, space["id"], "Rocket launch pad", "with 100% more LEGO_bricks", tags=["Space"])
    forum.post(author, city["id"], "Police station", "classic set")
    assert _titles(client.get("/api/v1/posts?q=街景")) == ["周末搭的城市街景"]
    assert _titles(client.get("/api/v1/posts?q=咖啡")) == ["周末搭的城市街景"]  # substring inside the body
    assert _titles(client.get("/api/v1/posts?q=ROCKET")) == ["Rocket launch pad"]
    assert _titles(client.get("/api/v1/posts?q=100%")) == ["Rocket launch pad"]
    assert _titles(client.get("/api/v1/posts?q=_")) == ["Rocket launch pad"]  # LIKE wildcards are literal
    assert _titles(client.get("/api/v1/posts?tag=space")) == ["Rocket launch pad"]
    assert _titles(client.get("/api/v1/posts?tag=nosuchtag")) == []
    assert _titles(client.get(f"/api/v1/boards/{city['id']}/posts")) == ["Police station", "周末搭的城市街景"]
    assert _titles(client.get(f"/api/v1/posts?board_id={space['id']}")) == ["Rocket launch pad"]
    assert _titles(client.get(f"/api/v1/users/{author.id}/posts?limit=1"))[0] == "Police station"
    assert client.get("/api/v1/boards/9999/posts").status_code == 404


def test_pinned_posts_lead_the_board(app, client, members, forum):
    board = forum.board()
    author = members.create()
    pinned = forum.post(author, board["id"], "read me first")
    forum.post(author, board["id"], "later post")
    with app.app_context():
        from forum.posts import Post
        from kernel.db import db

        db.session.get(Post, pinned["id"]).pinned = True
        db.session.commit()
    for sort in ("latest", "hot"):
        assert _titles(client.get(f"/api/v1/boards/{board['id']}/posts?sort={sort}"))[0] == "read me first"


def test_cursor_pagination_walks_every_post_once(client, members, forum, frozen_clock):
    board = forum.board()
    author = members.create()
    for i in range(7):
        forum.post(author, board["id"], f"post number {i}")
    for sort in ("latest", "hot"):
        seen, cursor = [], None
        while True:
            url = f"/api/v1/posts?sort={sort}&limit=3" + (f"&cursor={cursor}" if cursor else "")
            body = client.get(url).get_json()
            seen += [p["title"] for p in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(f"post number {i}" for i in range(7)), sort
        assert len(seen) == 7


def test_bad_list_arguments_are_4xx(client):
    assert client.get("/api/v1/posts?limit=0").status_code == 422
    assert client.get("/api/v1/posts?limit=101").status_code == 422
    response = client.get("/api/v1/posts?cursor=not-a-cursor!!")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_cursor"
    assert client.get("/api/v1/posts?cursor=W1sidiIsMV1d").status_code == 400  # valid encoding, wrong shape


def test_a_feed_shape_keeps_its_paged_statement_and_a_search_keeps_none(client, members, forum):
    board = forum.board()
    forum.post(members.create(), board["id"], "街景 一")
    pagination._paged.cache_clear()
    for _ in range(3):
        assert client.get("/api/v1/posts?sort=latest&q=街景").status_code == 200
    assert pagination._paged.cache_info().currsize == 0  # a search's query is built per request: nothing to reuse
    for _ in range(3):
        assert client.get("/api/v1/posts?sort=latest&limit=5").status_code == 200
    info = pagination._paged.cache_info()
    assert (info.currsize, info.hits) == (1, 2)  # the feed's shape: built once, then reused


def test_a_page_brings_tags_images_and_pinned_badges_with_each_post(client, members, forum, png_bytes):
    operator, author, plain, reader = (
        members.create(role="operator"),
        members.create(),
        members.create(),
        members.create(),
    )
    board = forum.board()
    badges = []
    for slug, name in (("helper", "热心"), ("builder", "搭建"), ("retired", "旧章")):
        made = _badge(client, operator, slug=slug, name=name, tier="silver", rule_metric=None, rule_threshold=None)
        award = {"user_id": author.id, "reason": "by hand"}
        awarded = client.post(f"/api/v1/badges/{made['id']}/awards", json=award, headers=operator.headers)
        assert awarded.status_code == 201
        badges.append(made)
    pinned = [badges[1]["id"], badges[2]["id"], badges[0]["id"]]  # slot order, not creation order
    showcase = client.put("/api/v1/me/badges/showcase", json={"badge_ids": pinned}, headers=author.headers)
    assert showcase.status_code == 200, showcase.get_json()
    disabled = client.patch(f"/api/v1/badges/{badges[2]['id']}", json={"enabled": False}, headers=operator.headers)
    assert disabled.status_code == 200, disabled.get_json()
    images = [upload_image(client, author, png_bytes, size=(width, 30)) for width in (40, 50, 60)]
    shown_in = [images[2], images[0], images[1]]
    decorated = forum.post(author, board["id"], "有图有标签", tags=["乐高", "MOC", "积木"], image_ids=shown_in)
    bare = forum.post(plain, board["id"], "什么都没有")

    def check(post: dict) -> None:
        if post["id"] == bare["id"]:
            assert (post["tags"], post["images"], post["author"]["showcase"]) == ([], [], [])
            return
        assert post["tags"] == ["MOC", "乐高", "积木"]
        assert [(i["id"], i["width"]) for i in post["images"]] == [(images[2], 60), (images[0], 40), (images[1], 50)]
        assert [b["slug"] for b in post["author"]["showcase"]] == ["builder", "helper"]  # the disabled one is left out

    for headers in ({}, reader.headers):
        page = client.get("/api/v1/posts?sort=latest", headers=headers).get_json()["items"]
        assert {p["id"] for p in page} == {decorated["id"], bare["id"]}
        for post in page:
            check(post)
        for post in (decorated, bare):
            check(client.get(f"/api/v1/posts/{post['id']}", headers=headers).get_json())


def test_a_listed_row_is_laid_out_as_the_list_reads_it():
    """`feeds.listed` takes the post's fields from the front of a row and the rest by position after them."""
    columns = [column.key for column in feeds._LISTED.selected_columns]
    assert columns[feeds._AUTHOR_AT :] == ["author_id", "username", "display_name", "level", "tag_rows", "image_rows"]
    assert set(columns[: feeds._AUTHOR_AT]) <= {each.name for each in fields(feeds.Listed)}
