"""The project's blueprint: flask-smorest's, reading JSON bodies through the request guard's strict parser."""

import flask_smorest

from api.request_guard import GuardedParser


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = GuardedParser()
