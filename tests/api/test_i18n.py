"""Messages in the reader's language; codes stay the same whatever the language."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_workers_first_error_answers_read_no_locale_data(tmp_path):
    """Babel's locale data is read when the app is made: the first error answers of a fresh process (one per thread
    at once, under load) do not each wait on reading it."""
    script = textwrap.dedent(
        """
        import pickle
        from api import create_app
        app = create_app()
        def refuse(*args, **kwargs):
            raise AssertionError("locale data read while answering")
        pickle.load = refuse
        client = app.test_client()
        for language in ("zh-CN", "en", ""):
            answer = client.get("/api/v1/nowhere", headers={"Accept-Language": language})
            assert answer.status_code == 404, answer.get_data(as_text=True)
        print("answered")
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'community.db'}",
        STORE_PATH=str(tmp_path / "store.db"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("answered"), done.stderr[-3000:]
