"""HTTP layer: the application factory."""

from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionInterface, SessionMixin

from api import (
    docs_assets,
    domain,  # noqa: F401  models and reactions
)
from api.anonymous_pages import AnonymousPages
from api.cli import register_cli
from api.config import load_config
from api.console import console
from api.error_tracking import init_error_tracking
from api.errors import error_response, register_error_handlers
from api.extensions import api, jwt, limiter, migrate
from api.i18n import init_i18n
from api.ids import IdConverter, id_parameter_schema
from api.json import OrjsonProvider
from api.logs import init_request_logging, request_id_from
from api.metrics import init_request_metrics
from api.proxies import TrustedProxies, parse_networks
from api.request_guard import guard_request
from api.resources import BLUEPRINTS, CACHED_PAGES
from forum.storage import LocalDiskStorage
from jobs.celery import init_celery
from kernel.db import db, ping_after_idle
from kernel.store import make_store

JSON_METHODS = ("POST", "PUT", "PATCH")


class BearerTokensOnly(SessionInterface):
    """Members sign in with bearer tokens: no request opens or writes a cookie session (Flask's null session
    stands in, and refuses writes)."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class CommunityFlask(Flask):
    json_provider_class = OrjsonProvider  # Chinese stays readable in responses, and encoding is fast
    session_interface = BearerTokensOnly()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = CommunityFlask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.update(load_config(Path(app.instance_path)))
    app.config.update(config or {})
    app.wsgi_app = TrustedProxies(app.wsgi_app, parse_networks(app.config["TRUSTED_PROXIES"]))  # type: ignore[method-assign]

    init_error_tracking(app)
    _init_database(app)
    app.extensions["store"] = make_store(
        app.config["REDIS_URL"], app.config["STORE_PATH"], prefix=app.config["STORE_PREFIX"]
    )
    app.extensions["media_storage"] = LocalDiskStorage(app.config["MEDIA_ROOT"])
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    jwt.init_app(app)
    limiter.init_app(app)
    app.url_map.converters["int"] = IdConverter  # before any route exists
    api.init_app(app)
    api.register_converter(IdConverter, id_parameter_schema)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})

    from api.auth import init_jwt

    init_jwt(app)
    init_i18n(app)
    register_error_handlers(app)
    _register_request_hooks(app)
    init_request_logging(app)  # after the request id is assigned
    init_request_metrics(app)
    _register_blueprints(app)
    # Signed-out readers of hot pages are answered from the store before Flask runs (api/anonymous_pages.py).
    app.wsgi_app = AnonymousPages(app.wsgi_app, app, CACHED_PAGES)  # type: ignore[method-assign]
    init_celery(app)
    register_cli(app)
    return app


def _init_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    else:
        options.setdefault("pool_size", 10)
        options.setdefault("max_overflow", 20)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    with app.app_context():
        if uri.startswith("sqlite"):
            from sqlalchemy import event

            @event.listens_for(db.engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        else:
            ping_after_idle(db.engine, app.config["DATABASE_PING_AFTER_IDLE_SECONDS"])


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request_id_from(request.headers.get("X-Request-ID", ""))

    @app.before_request
    def require_json_body() -> Response | None:
        # Bodies must be JSON unless the view says it takes uploads; anything else is refused before parsing.
        if request.routing_exception is not None:
            return None  # 404/405 come first, whatever the body
        view = app.view_functions.get(request.endpoint or "")
        accepted = getattr(view, "accepts_content", ("application/json",))
        # Each route's own body limit: uploads may be large, JSON never needs to be.
        request.max_content_length = (
            app.config["MAX_CONTENT_LENGTH"] if "multipart/form-data" in accepted else app.config["MAX_JSON_BYTES"]
        )
        if request.method not in JSON_METHODS or not (
            request.content_length or request.headers.get("Transfer-Encoding")
        ):
            return None
        if request.mimetype not in accepted:
            return error_response(
                415,
                "unsupported_media_type",
                f"send {' or '.join(accepted)}",
                {"content_type": request.mimetype or None},
            )
        return None

    app.before_request(guard_request)

    @app.after_request
    def stamp(response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def _register_blueprints(app: Flask) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_assets.assets)
    app.register_blueprint(console)
