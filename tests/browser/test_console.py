"""The staff console in real headless Chromium, over the demo data: staff sign in and work every page through the
public API; a member is refused. A screenshot of each page goes to test-output/browser/."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shows
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from api.demo import DEMO_PASSWORD
from api.demo_catalogue import DEMO_IDEAS, HELD_POST_TITLE
from c2b.ideas import Idea
from forum.auth_sessions import AuthSession
from forum.members import User
from forum.posts import Post
from kernel.db import db

PAINTED = """
const canvas = document.querySelector(`canvas[data-chart="${arguments[0]}"]`);
if (!canvas || !canvas.width || !canvas.height) return 0;
const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
return painted;
"""


@pytest.fixture()
def demo(app):
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output


def _wait(browser, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def _sign_in(browser, base: str, username: str) -> None:
    browser.get(f"{base}/console/")
    _wait(browser).until(shows.visibility_of_element_located((By.ID, "username")))
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(DEMO_PASSWORD)
    browser.find_element(By.ID, "sign-in-button").click()


def _open(browser, page: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f'#nav a[data-page="{page}"]').click()
    _wait(browser).until(lambda b: b.find_element(By.ID, "page").get_attribute("data-page") == page)


def _row_with(browser, panel: str, text: str):
    """The table row of a panel that shows `text` (waits for it)."""
    xpath = f'//section[contains(@class, "{panel}")]//tr[.//*[contains(text(), "{text}")]]'
    return _wait(browser).until(shows.presence_of_element_located((By.XPATH, xpath)))


def _painted(browser, chart: str) -> int:
    _wait(browser).until(lambda b: b.execute_script(PAINTED, chart) > 0)
    return browser.execute_script(PAINTED, chart)


def test_a_member_is_refused_and_their_new_session_ended(app, demo, live_server, chromium):
    _sign_in(chromium, live_server, "alice")
    error = _wait(chromium).until(shows.visibility_of_element_located((By.ID, "sign-in-error")))
    assert "不是工作人员" in error.text
    assert not chromium.find_element(By.ID, "nav").is_displayed()
    with app.app_context():
        alice = db.session.scalar(select(User).where(User.username == "alice"))
        sessions = db.session.scalars(select(AuthSession).where(AuthSession.user_id == alice.id)).all()
        assert sessions and all(s.revoked_at is not None for s in sessions)


def test_staff_work_every_page(app, demo, live_server, chromium, screenshot):
    # The community's administrator: the operator who holds every staff role.
    _sign_in(chromium, live_server, "admin")
    _wait(chromium).until(shows.visibility_of_element_located((By.ID, "nav")))

    # Moderation: the held post is approved in one click.
    held = _row_with(chromium, "queue", HELD_POST_TITLE)
    screenshot(chromium, "moderation")
    held.find_element(By.CSS_SELECTOR, "button.approve").click()
    _wait(chromium).until(
        lambda b: not b.find_elements(By.XPATH, f'//section[contains(@class, "queue")]//*[text()="{HELD_POST_TITLE}"]')
    )
    with app.app_context():
        assert db.session.scalar(select(Post.status).where(Post.title == HELD_POST_TITLE)) == "published"

    # Ideas: the qualified idea is taken into review and approved with feedback; supporters over time are drawn.
    _open(chromium, "ideas")
    title = DEMO_IDEAS[1][0]
    _row_with(chromium, "idea-queue", title).find_element(By.CSS_SELECTOR, "button.start-review").click()
    _wait(chromium).until(lambda b: "评审中" in _row_with(b, "idea-queue", title).text)
    row = _row_with(chromium, "idea-queue", title)
    row.find_element(By.CSS_SELECTOR, "input.feedback").send_keys("评审通过，进入样品投票")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    _wait(chromium).until(
        lambda b: not b.find_elements(By.XPATH, f'//section[contains(@class, "idea-queue")]//*[text()="{title}"]')
    )
    with app.app_context():
        idea = db.session.scalar(select(Idea).where(Idea.title == title))
        assert idea.status == "approved" and idea.decision_feedback == "评审通过，进入样品投票"
    assert _painted(chromium, "supporters-over-time") > 500
    assert _painted(chromium, "人数") > 0  # the demand report's distributions
    screenshot(chromium, "ideas")

    # Pre-sale: progress toward the MOQ, per SKU, with the export buttons.
    _open(chromium, "presales")
    card = _wait(chromium).until(shows.presence_of_element_located((By.CSS_SELECTOR, ".campaign")))
    _wait(chromium).until(lambda b: "已预订" in card.text and "DRAGON-GREEN" in card.text)
    assert card.find_elements(By.CSS_SELECTOR, "button.export-xlsx")
    screenshot(chromium, "presales")

    # Operations: points issued vs spent per day, tiers, segments and the experience-officer campaign.
    _open(chromium, "operations")
    assert _painted(chromium, "points-per-day") > 500
    assert _painted(chromium, "tiers") > 500
    _wait(chromium).until(lambda b: "xiaoming" in b.find_element(By.CSS_SELECTOR, ".segments").text)
    _wait(chromium).until(lambda b: "报名（3）" in b.find_element(By.CSS_SELECTOR, ".officers").text)
    screenshot(chromium, "operations")

    chromium.find_element(By.ID, "sign-out").click()
    _wait(chromium).until(shows.visibility_of_element_located((By.ID, "sign-in-form")))


def test_the_demo_operator_sees_every_page_and_decides_only_their_own(app, demo, live_server, chromium, screenshot):
    _sign_in(chromium, live_server, "operator")
    _wait(chromium).until(shows.visibility_of_element_located((By.ID, "nav")))
    held = _row_with(chromium, "queue", HELD_POST_TITLE)  # operators oversee the review queue…
    held.find_element(By.CSS_SELECTOR, "button.approve").click()
    toast = _wait(chromium).until(shows.visibility_of_element_located((By.ID, "toast")))
    assert "版主" in toast.text  # …but approving is the moderators' call: the API's refusal, in Chinese
    with app.app_context():
        assert db.session.scalar(select(Post.status).where(Post.title == HELD_POST_TITLE)) == "pending_review"
    screenshot(chromium, "operator-moderation")
    _open(chromium, "ideas")
    _row_with(chromium, "idea-queue", DEMO_IDEAS[1][0])
    assert _painted(chromium, "supporters-over-time") > 500
    _open(chromium, "presales")
    _wait(chromium).until(lambda b: "DRAGON-RED" in b.find_element(By.CSS_SELECTOR, ".presale-progress").text)
    _open(chromium, "operations")
    assert _painted(chromium, "points-per-day") > 500
    screenshot(chromium, "operator-operations")
