"""Prometheus metrics: request latency per route (a histogram), and at scrape time the event backlog and the points
the community has issued and spent (read from the ledger, so they are exact across every worker).

Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR: each worker writes its samples there and a
scrape adds them up (gunicorn.conf.py clears a dead worker's files)."""

import os
import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class CommunityCollector(Collector):
    """Figures read from the database when scraped."""

    def collect(self) -> Iterator[Metric]:
        from economy.ledger import system_balance
        from kernel import outbox

        backlog = outbox.backlog()
        pending = GaugeMetricFamily("community_events_pending", "Events waiting for their reactions")
        pending.add_metric([], backlog["pending_events"])
        yield pending
        failed = GaugeMetricFamily("community_event_failures", "Reactions that failed after every retry")
        failed.add_metric([], backlog["failed_handlers"])
        yield failed
        points = CounterMetricFamily("community_points", "Points moved by the ledger", labels=["direction"])
        points.add_metric(["issued"], -system_balance("issuance"))
        points.add_metric(["spent"], system_balance("mall") + system_balance("lottery"))
        yield points


def exposition() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(LATENCY)
    registry.register(CommunityCollector())
    return generate_latest(registry)


def init_request_metrics(app: Flask) -> None:
    @app.before_request
    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None and request.url_rule is not None:
            LATENCY.labels(request.method, request.url_rule.rule, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response
