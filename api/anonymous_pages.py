"""Hot pages for signed-out readers (feeds, posts), answered before the framework runs.

The feed and post views keep each page they build for a signed-out reader in the store for FEED_CACHE_SECONDS under
the address it was asked for (forum.feed_cache), tagged with the feed's generation. When a reader without a token
asks for such an address again, this middleware finds the page (no store trip while the worker holds it) and,
if it belongs to the current generation, answers with it as the view would have: the same body and headers, what the
view must still do (a post's view counts), an access line and a latency sample. No request context is built, no hook,
argument parser or database session runs: most of a cached page's cost was that machinery, not the page.

Anything else goes to the application: a token (its marks are personal, and it must be checked), another path or
method, a miss, a page of an older generation, a store outage. The application builds the page and keeps it, so the
next signed-out reader is answered here. A post that leaves a feed starts a new generation, which every worker
sees within forum.feed_cache.GENERATION_HOLD_SECONDS (the one that made the change at once).
"""

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import structlog
from flask import Flask, Request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, MapAdapter, Rule

from api.logs import log_access, request_id_from
from api.metrics import LATENCY
from forum.feed_cache import cached_page
from kernel.store import StoreUnavailable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def page_address(environ: "WSGIEnvironment") -> str:
    """What a cached page is filed under: the path and the query exactly as asked."""
    return f"{environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"


def cacheable_address(request: Request, arguments: Collection[str]) -> str | None:
    """The address to keep this request's page under, if its query holds only the view's own arguments, each once:
    a query padded with anything else would otherwise file one more copy of the same page per variant."""
    given = request.args
    if len(given) != len(list(given.items(multi=True))) or any(key not in arguments for key in given):
        return None
    return page_address(request.environ)


log = structlog.get_logger(__name__)
OnHit = Callable[..., None] | None  # called with the application and the route's arguments


class AnonymousPages:
    def __init__(self, wsgi_app: "WSGIApplication", app: Flask, endpoints: Mapping[str, OnHit]) -> None:
        self.wsgi_app = wsgi_app
        self.app = app
        self.store = app.extensions["store"]
        self.on_hit = dict(endpoints)
        rules = [
            rule.empty()
            for rule in app.url_map.iter_rules()
            if rule.endpoint in self.on_hit and "GET" in (rule.methods or ())
        ]
        missing = set(self.on_hit) - {rule.endpoint for rule in rules}
        if missing:
            raise RuntimeError(f"no route for the cached page endpoints {sorted(missing)}")
        self.routes: MapAdapter = Map(rules, converters=app.url_map.converters).bind("localhost")

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        started = time.perf_counter()
        found = self._cached(environ)
        if found is None:
            return self.wsgi_app(environ, start_response)
        rule, arguments, body = found
        if (on_hit := self.on_hit[rule.endpoint]) is not None:
            self._run(on_hit, arguments)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Request-ID", request_id),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        elapsed = time.perf_counter() - started
        LATENCY.labels("GET", rule.rule, "200").observe(elapsed)
        log_access(
            request_id, method="GET", route=rule.rule, status=200, duration_ms=round(elapsed * 1000, 2), cached=True
        )
        return [body]

    def _cached(self, environ: "WSGIEnvironment") -> tuple[Rule, Mapping[str, Any], bytes] | None:
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_AUTHORIZATION" in environ:
            return None
        if not self.app.config["FEED_CACHE_SECONDS"]:
            return None
        try:
            rule, arguments = self.routes.match(environ.get("PATH_INFO", ""), "GET", return_rule=True)
            page, _ = cached_page(self.store, page_address(environ))
        except (HTTPException, StoreUnavailable):  # not a cached address (or a redirect), or no store: the app answers
            return None
        return None if page is None else (rule, arguments, page)

    def _run(self, on_hit: Callable[..., None], arguments: Mapping[str, Any]) -> None:
        """What the view would have done besides answering; a page already shown is not taken back if it fails."""
        try:
            on_hit(self.app, **arguments)
        except (SQLAlchemyError, StoreUnavailable):
            log.warning("cached_page_side_effect_failed", exc_info=True)
