"""``/livez``, ``/readyz`` (``/healthz``) and ``/metrics`` over HTTP for the worker services (dialer,
transfer): liveness never depends on NATS, so a NATS blip makes a worker unready, not restarted."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def health_app(nats_connected: Callable[[], bool]) -> Starlette:
    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if not nats_connected():
            return JSONResponse({"status": "nats disconnected"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/healthz", readyz),
            Route("/metrics", metrics),
        ]
    )


class HealthServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield
