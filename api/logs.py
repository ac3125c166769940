"""Logs as JSON lines (structlog over the standard library): every line carries the time, level, logger and, inside
a request, its request id and the signed-in member's id; each request also writes one access line (method, route,
status, duration). Libraries that log through `logging` (Flask, Celery, SQLAlchemy) get the same format.
LOG_FORMAT=console renders the same events for a person at a terminal."""

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

import orjson
import structlog
from flask import Flask, Response, g, request
from structlog.contextvars import bind_contextvars, clear_contextvars
from structlog.typing import Processor

access = structlog.get_logger("api.access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _json_line(event: dict, **options: Any) -> str:
    try:
        return orjson.dumps(event, default=options.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson cannot write (an integer past 64 bits): the standard encoder can
        return json.dumps(event, **options)


def formatter(fmt: str) -> logging.Formatter:
    renderer = (
        structlog.dev.ConsoleRenderer()
        if fmt == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)  # every request writes one: orjson is faster
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure(fmt: str, level: str) -> None:
    """Once per process: one handler on the root logger, structlog routed through it."""
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if not any(getattr(existing, "community", False) for existing in root.handlers):
        ours = logging.StreamHandler(sys.stderr)
        ours.community = True  # type: ignore[attr-defined]
        root.addHandler(ours)
    for existing in root.handlers:
        if getattr(existing, "community", False):
            existing.setFormatter(formatter(fmt))
    root.setLevel(level)
    # No line shows the thread or process names, nor the caller's file and line: not collecting them (the logging
    # HOWTO's "Optimization") makes every record cheaper; finding the caller walked the stack on every line.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logging.captureWarnings(True)  # Python warnings become log lines too (logger "py.warnings"), JSON like the rest


def bind_member(member_id: int) -> None:
    bind_contextvars(member_id=member_id)


def request_id_from(given: str) -> str:
    """The client's X-Request-ID if it is a sane one, else a new id."""
    return given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex


def bind_request_id(request_id: str | None) -> None:
    """From here on every line carries this request's id, and nothing bound for an earlier request."""
    clear_contextvars()
    bind_contextvars(request_id=request_id)


def log_access(request_id: str, **fields) -> None:
    """The access line of a request answered without the application (its hooks write the others)."""
    bind_request_id(request_id)
    access.info("request", **fields)


def init_request_logging(app: Flask) -> None:
    configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])

    @app.before_request
    def bind_request() -> None:
        bind_request_id(g.get("request_id"))
        g.started = time.perf_counter()

    @app.after_request
    def access_line(response: Response) -> Response:
        started = g.get("started")
        access.info(
            "request",
            method=request.method,
            route=request.url_rule.rule if request.url_rule else None,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
        )
        return response
