"""Gunicorn settings for `make run` and production; every value can be overridden on the command line."""

import os

from api import serving

bind = os.environ.get("BIND", "127.0.0.1:5000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", 2))
threads = int(os.environ.get("WEB_THREADS", 8))
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over them. On one shared
# socket, whichever worker wakes first accepts every connection that arrives together (a proxy's keep-alive pool, a
# burst of clients) and keeps them: one core serves while the others idle. A worker that exits (a reload, a crash)
# takes the connections still waiting in its socket's queue with it unless the kernel hands them to another
# (Linux 5.14+: sysctl net.ipv4.tcp_migrate_req=1).
reuse_port = True
timeout = 30
graceful_timeout = 20
# Bounded request lines and headers; over them gunicorn answers 414/431 in the API's JSON envelope.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

serving.install()

# Gunicorn's own lines (start-up, worker exits) in the same JSON format as the application's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"community": {"()": "api.logs.formatter", "fmt": os.environ.get("LOG_FORMAT", "json")}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "community", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": []},  # the application adds its own (api/logs.py)
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},  # the app logs access
    },
}


def child_exit(server, worker):
    # With PROMETHEUS_MULTIPROC_DIR, a dead worker's metric files are merged away (see api/metrics.py).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
