"""Keyword search by substring, Chinese included, served by the search indexes (trigram) and exact for short terms."""


def _titles(client, url):
    return sorted(item["title"] for item in client.get(url).get_json()["items"])


def test_posts_are_found_by_any_part_of_their_words(client, members, forum):
    board = forum.board()
    author = members.create()
    forum.post(author, board["id"], title="端午龙舟拼装心得", body="花了三个晚上拼完")
    forum.post(author, board["id"], title="城市系列开箱", body="LEGO City 警察局，细节很多")
    forum.post(author, board["id"], title="100% 原创 MOC", body="下划线_和百分号都要当作普通字符")
    assert _titles(client, "/api/v1/posts?q=龙舟拼") == ["端午龙舟拼装心得"]  # three characters: the index
    assert _titles(client, "/api/v1/posts?q=龙舟") == ["端午龙舟拼装心得"]  # two: the exact fallback
    assert _titles(client, "/api/v1/posts?q=三个晚上") == ["端午龙舟拼装心得"]  # in the body
    assert _titles(client, "/api/v1/posts?q=lego%20city") == ["城市系列开箱"]  # case does not matter
    assert _titles(client, "/api/v1/posts?q=100%25") == ["100% 原创 MOC"]  # % is a character, not a wildcard
    assert _titles(client, "/api/v1/posts?q=%22%20OR%20") == []  # search syntax is just text
    assert _titles(client, "/api/v1/posts?q=潜水艇") == []


def test_an_edited_post_is_found_by_its_new_words(client, members, forum):
    board = forum.board()
    author = members.create()
    post = forum.post(author, board["id"], title="旧标题在这里", body="正文内容")
    client.patch(f"/api/v1/posts/{post['id']}", json={"title": "新标题写法"}, headers=author.headers)
    assert _titles(client, "/api/v1/posts?q=新标题") == ["新标题写法"]
    assert _titles(client, "/api/v1/posts?q=旧标题") == []


def test_a_term_without_case_is_matched_as_written_and_one_with_case_in_any_case(client, members, forum):
    board = forum.board()
    author = members.create()
    forum.post(author, board["id"], title="第 12 期 LEGO 活动", body="Technic 42100 挖掘机")
    forum.post(author, board["id"], title="第 120 期 乐高", body="technic 部分")
    assert _titles(client, "/api/v1/posts?q=%E7%AC%AC%2012") == ["第 12 期 LEGO 活动", "第 120 期 乐高"]
    assert _titles(client, "/api/v1/posts?q=42100") == ["第 12 期 LEGO 活动"]
    assert _titles(client, "/api/v1/posts?q=TECHNIC") == ["第 12 期 LEGO 活动", "第 120 期 乐高"]
    assert _titles(client, "/api/v1/posts?q=lego%20%E6%B4%BB") == ["第 12 期 LEGO 活动"]  # mixed: any case
