"""/api/docs renders in a real browser with no internet: Swagger UI's assets come from the app itself."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def test_the_api_explorer_renders_offline(app, live_server, chromium, screenshot):
    chromium.get(f"{live_server}/api/docs")
    WebDriverWait(chromium, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock .opblock-summary-path"))
    )
    shown = chromium.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    paths = {element.text.replace("\u200b", "") for element in shown}
    assert "/api/v1/posts" in paths and "/api/v1/me/checkin" in paths
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    operations = sum(1 for item in spec["paths"].values() for method in item if method != "parameters")
    assert len(shown) == operations  # every operation is listed
    # Nothing was fetched from anywhere but this server.
    resources = chromium.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(live_server) for name in resources), resources
    screenshot(chromium, "api-docs")
