"""The API explorer's assets (Swagger UI), served by the app itself from the pinned `swagger-ui-bundle` package:
/api/docs works without the internet, and without a CDN that mainland networks may not reach."""

import swagger_ui_bundle
from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

ASSETS_URL = "/api/docs/assets/"
# Only what the explorer page loads; the package's own index pages are not served.
SERVED = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})
ONE_DAY = 86_400

assets = Blueprint("docs_assets", __name__)


@assets.get(f"{ASSETS_URL}<name>")
def asset(name: str) -> Response:
    if name not in SERVED:
        raise NotFound()
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=ONE_DAY)
