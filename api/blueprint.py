"""The project's blueprint: flask-smorest's, reading JSON bodies through the request guard's strict parser, with
every view body run as one unit of work.

The unit of work wraps the view under `@blp.response`: the view's changes are committed (and the events they wrote
dispatched) before the answer is serialised, so the answer shows the committed state; any error rolls back.
"""

from collections.abc import Callable
from typing import Any

import flask_smorest

from api.request_guard import GuardedParser
from kernel.unit_of_work import transactional


def operation_id(name: str) -> str:
    """A view's stable operationId: its function name in camelCase (list_polls → listPolls)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = GuardedParser()

    def route(self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any) -> Callable:
        register = super().route(rule, parameters=parameters, tags=tags, **options)

        def decorate(view: Callable) -> Callable:
            # Generated clients name their calls after it (placeOrder, not post_api_v1_presales_orders).
            return register(self.doc(operationId=operation_id(view.__name__))(view))

        return decorate

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        # One schema instance per view: given a class, the parser would build (and deep-copy the fields of) a new
        # one on every request.
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Callable[[Callable], Callable]:
        serialise = super().response(*args, **kwargs)
        return lambda view: serialise(transactional(view))

    def add_url_rule(
        self, rule: str, endpoint: str | None = None, view_func: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        if view_func is not None and not getattr(view_func, "is_transactional", False):
            raise TypeError(f"{rule}: every view declares its answer with @blp.response (its unit of work)")
        return super().add_url_rule(rule, endpoint, view_func, *args, **kwargs)


def accepts(*content_types: str) -> Callable[[Callable], Callable]:
    """Declare the body types a view takes (JSON otherwise); put it right under `@blp.route`."""

    def mark(view: Callable) -> Callable:
        view.accepts_content = content_types  # type: ignore[attr-defined]
        return view

    return mark
