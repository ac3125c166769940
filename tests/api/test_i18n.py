"""Messages in the reader's language; codes stay the same whatever the language."""

import pytest


def test_chinese_messages_by_accept_language(client, members):
    member = members.create()
    headers = {**member.headers, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    refused = client.post("/api/v1/posts", json={"title": "", "board_id": 0}, headers=headers)
    assert refused.status_code == 422 and refused.headers["Content-Language"] == "zh-CN"
    error = refused.get_json()["error"]
    assert error["code"] == "validation_failed" and error["message"] == "请求未通过校验"
    assert error["details"]["body"] == ["缺少必填字段。"]
    assert error["details"]["title"] == ["长度必须在 1 到 200 之间。"]
    assert error["details"]["board_id"] == ["必须大于或等于 1 且小于或等于 2147483647。"]
    missing = client.get("/api/v1/posts/999999", headers=headers).get_json()["error"]
    assert missing == {"code": "post_not_found", "message": "找不到该内容", "details": {}}
    signed_out = client.get("/api/v1/me", headers={"Accept-Language": "zh"})
    assert signed_out.get_json()["error"] == {"code": "unauthenticated", "message": "请先登录", "details": {}}


def test_english_readers_get_the_messages_as_written(client, members):
    member = members.create()
    refused = client.post("/api/v1/posts", json={}, headers={**member.headers, "Accept-Language": "en-GB"})
    error = refused.get_json()["error"]
    assert refused.headers["Content-Language"] == "en"
    assert error["message"] == "the request did not validate"
    assert error["details"]["title"] == ["Missing data for required field."]


@pytest.mark.parametrize("accept", [None, "fr-FR", "*"])
def test_the_community_language_when_the_reader_asks_for_none_we_have(make_app, accept):
    client = make_app(COMMUNITY_LOCALE="zh_CN").test_client()
    response = client.get("/api/v1/no-such-route", headers={"Accept-Language": accept} if accept else {})
    assert response.status_code == 404 and response.get_json()["error"]["message"] == "找不到该内容"
    assert "Accept-Language" in response.headers["Vary"]
