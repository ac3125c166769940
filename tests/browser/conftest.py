"""Real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) against the app served on
127.0.0.1. Every other host is made unresolvable, so a page that needed the internet would show it.

Screenshots go to test-output/browser/ at the repository's root. Without Chromium these tests are skipped, except
in CI (`CI` set), where .ci/run installs it and a missing browser is a failure."""

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The test app served by a threaded WSGI server on a free port of 127.0.0.1."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the app writes its own access lines
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (.ci/run installs them)")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,900",
        "--lang=zh-CN",
        # Offline: nothing but this machine resolves.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture()
def screenshot(request):
    """screenshot(name): save the browser's current page as test-output/browser/<test>-<name>.png."""
    OUTPUT.mkdir(parents=True, exist_ok=True)

    def take(driver, name: str) -> Path:
        path = OUTPUT / f"{request.node.name}-{name}.png"
        driver.save_screenshot(str(path))
        return path

    return take
