"""What the API exposes to Prometheus (``estatewatch_api_*``) and the middleware that times
every request.

Requests are counted per route *template* (``/api/v1/work-orders/{order_id}``), method
and status class (``2xx``), never per raw path or exact status, so a scan of random
addresses adds one ``unmatched`` series, not thousands. The time is taken until the
response starts (its status line): for an ordinary answer that is the whole of the
server's work; for an event stream (``/events``), which stays open for hours, it is the
time to open it.

``/metrics`` is not a route of the application: :func:`api.app.create_app` serves it on a
port of its own (``metrics_port``, off by default; ``metrics_host`` 127.0.0.1). A reverse
proxy that publishes the API to the internet therefore never publishes the metrics (route
names, request rates, process details), and nothing on the public port has to guard them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from estatewatch.metrics import Reading, StateCollector

__all__ = ["RequestMetricsMiddleware", "register_live"]

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"
# Pages and JSON answers take milliseconds; a PDF report or a photo upload, seconds.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RequestMetricsMiddleware:
    """Times each HTTP request into ``estatewatch_api_request_duration_seconds``."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.duration = Histogram(
            "estatewatch_api_request_duration_seconds",
            "time until the response started, by route template, method and status class",
            ["route", "method", "status"],
            buckets=_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        def observe(status: int) -> None:
            nonlocal answered
            answered = True
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.duration.labels(route_template(scope), method, f"{status // 100}xx").observe(
                time.perf_counter() - started
            )

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except BaseException:
            if not answered:  # the server answers 500 for what escaped
                observe(500)
            raise


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/work-orders/{order_id}``).

    The router leaves the matched route in the scope, without the prefix it was included
    under (``/api/v1``); prefixes here are literal, so the prefix is the request path's
    leading segments beyond the template's own.
    """
    route = scope.get("route")
    if route is None and "endpoint" in scope:
        # A mounted app (the static files) leaves no route, only its mount point.
        return f"{scope.get('root_path', '')}/{{path}}"
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    segments = scope["path"].rstrip("/").split("/")
    extra = len(segments) - len(template.rstrip("/").split("/"))
    return "/".join(segments[: extra + 1]) + template if extra > 0 else template


def register_live(registry: CollectorRegistry, clients: Callable[[], int]) -> None:
    """The live hub's open event streams (``clients``: how many now)."""
    registry.register(
        StateCollector(
            [
                Reading(
                    "estatewatch_api_live_streams",
                    "open Server-Sent Event streams (board, order and public pages)",
                    clients,
                    kind="gauge",
                )
            ]
        )
    )
