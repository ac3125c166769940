"""The console page itself (its behaviour is tested in a real browser, tests/browser/test_console.py)."""

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "api" / "console" / "static"
# Chart.js 4.6.1 from npm (package/dist/chart.umd.min.js), served from here: no CDN.
CHART_JS_SHA256 = "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"


def test_the_page_loads_only_its_own_code_under_a_strict_policy(client):
    assert client.get("/console").status_code in (301, 308)
    page = client.get("/console/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all('src="/console/static/' in attributes for attributes in scripts)
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    for asset in ("console.js", "console.css", "vendor/chart.umd.min.js"):
        with client.get(f"/console/static/{asset}") as served:  # a file response: closed when read
            assert served.status_code == 200


def test_the_chart_library_is_the_pinned_release():
    vendored = (STATIC / "vendor" / "chart.umd.min.js").read_bytes()
    assert vendored.startswith(b"/*!\n * Chart.js v4.6.1")
    assert hashlib.sha256(vendored).hexdigest() == CHART_JS_SHA256


def test_the_console_keeps_tokens_in_memory_only():
    script = (STATIC / "console.js").read_text()
    for storage in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
        assert storage not in script
    assert "innerHTML" not in script  # text goes in as text
