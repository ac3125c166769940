"""Every log line is JSON with the request id (and the member's id when signed in), one access line per request."""

import logging


def test_requests_log_json_lines_with_their_request_and_member(client, members, log_lines):
    member = members.create()
    answer = client.get("/api/v1/me", headers={**member.headers, "X-Request-ID": "req-abc-12345"})
    assert answer.status_code == 200
    lines = log_lines()
    assert lines, "no log line"
    access = [line for line in lines if line["logger"] == "api.access"]
    assert access[-1]["request_id"] == "req-abc-12345" and access[-1]["member_id"] == member.id
    assert access[-1]["route"] == "/api/v1/me" and access[-1]["status"] == 200 and access[-1]["duration_ms"] >= 0
    assert all({"timestamp", "level", "event"} <= line.keys() for line in lines)


def test_a_library_log_line_inside_a_request_is_json_with_the_request_id(app, log_lines):
    with app.test_request_context("/api/v1/health", headers={"X-Request-ID": "req-probe-0001"}):
        app.preprocess_request()  # the request's hooks: its id is bound to every line from here
        logging.getLogger("some.library").warning("careful: %s", "中文")
    found = [line for line in log_lines() if line["logger"] == "some.library"]
    assert found == [
        {
            "event": "careful: 中文",
            "level": "warning",
            "logger": "some.library",
            "request_id": "req-probe-0001",
            "timestamp": found[0]["timestamp"],
        }
    ]


def test_metrics_are_for_the_scraper_only(client, members, settings):
    assert client.get("/api/v1/metrics").status_code == 404  # no token configured: no route
    settings(METRICS_TOKEN="scrape-secret-token")
    member = members.create()
    assert client.get("/api/v1/metrics").status_code == 401
    assert client.get("/api/v1/metrics", headers=member.headers).status_code == 401  # a member's token is not it
    client.post("/api/v1/me/checkin", headers=member.headers)
    scraped = client.get("/api/v1/metrics", headers={"Authorization": "Bearer scrape-secret-token"})
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    text = scraped.get_data(as_text=True)
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/api/v1/me/checkin"' in text
    assert "community_events_pending " in text and "community_event_failures " in text
    issued = next(line for line in text.splitlines() if line.startswith('community_points_total{direction="issued"}'))
    assert float(issued.split()[-1]) >= 5  # the check-in's points
