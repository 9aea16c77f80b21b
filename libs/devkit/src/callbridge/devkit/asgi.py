"""Serve an ASGI app with uvicorn inside the current event loop (tests, the local stack)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
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
    listener: socket.socket | None = None,
) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on this loop (real HTTP); yields its base URL. Connections are
    bounded as in production (``limits``, by default the settings' defaults).

    ``listener``: a socket bound already (to ``host:port``; port 0 lets the system choose, with no race
    for a "free" port); taken over and closed here. Without it, ``host:port`` is bound here, and OSError
    says it cannot be (uvicorn itself would log it and ``sys.exit``).
    """
    if listener is None:
        listener = bind_listener(host, port)
    port = listener.getsockname()[1]
    config = uvicorn_config(
        app, host=host, port=port, log_level=log_level, limits=limits or ConnectionLimits(), lifespan="on"
    )
    server = _EmbeddedUvicorn(config)
    task = asyncio.create_task(_serve(server, listener), name=f"uvicorn-{port}")
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
        listener.close()


async def _serve(server: uvicorn.Server, listener: socket.socket) -> None:
    try:
        await server.serve(sockets=[listener])
    except SystemExit as exc:
        # uvicorn exits the process when the app's start-up fails; here that ends this server only.
        raise RuntimeError(f"uvicorn stopped: the app's start-up failed (exit status {exc.code})") from None


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (its first address, as uvicorn binds), ready to listen."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError:
        listener.close()
        raise
    return listener
