"""Celery's entry point: `celery -A worker worker` and `celery -A worker beat` (see `make worker`, `make beat`)."""

from api import create_app

flask_app = create_app()
app = flask_app.extensions["celery"]
