"""Celery's entry point: `celery -A worker worker` and `celery -A worker beat` (see `make worker`, `make beat`)."""

from api import create_app

app = create_app()
celery = app.extensions["celery"]
