"""Serve an ASGI app with uvicorn inside the current event loop (tests, the local stack)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator

import uvicorn

from callbridge.webhooks.http_server import ConnectionLimits, uvicorn_config

READY_TIMEOUT_S = 15.0


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the embedding program decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve_asgi(
    app: object,
    host: str,
    port: int,
    log_level: str = "warning",
    limits: ConnectionLimits | None = None,
) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on this loop (real HTTP); yields its base URL. Connections are
    bounded as in production (``limits``, by default the settings' defaults)."""
    config = uvicorn_config(
        app, host=host, port=port, log_level=log_level, limits=limits or ConnectionLimits(), lifespan="on"
    )
    server = _EmbeddedUvicorn(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn-{port}")
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped during start-up")
                await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
