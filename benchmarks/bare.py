"""The baseline: a bare Flask endpoint, served by the same gunicorn settings as the API, in the same run."""

from flask import Flask

app = Flask(__name__)


@app.get("/ok")
def ok() -> dict:
    return {"ok": True}
