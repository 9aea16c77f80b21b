"""Prometheus metrics of the webhooks service, served on ``GET /metrics`` of its port (not behind the API
key, like the health routes; route only ``/api`` and the provider paths through a public ingress)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callbridge.common.loop_lag import lag_gauge

REQUESTS = Counter(
    "callbridge_webhooks_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "callbridge_webhooks_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENT_LOOP_LAG = lag_gauge("webhooks")


class RequestMetrics:
    """A pure ASGI middleware: counts and times each request under its route's template (``/api/calls/
    {call_id}``), so ids never become label values; a path no route matches is ``unmatched``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
