"""uvicorn, bounded: a connection gets a fixed time to send each complete request, and the number of open
connections is capped; beyond the cap a new connection is answered 503 and closed at once.

uvicorn 0.54 has neither. Its keep-alive timeout runs only between requests, after a response: a connection
that opens and sends nothing, or half a request line, or a header a byte at a time, is held forever. Both
limits live in a subclass of uvicorn's httptools protocol, the one object that sees a connection from
accept to close, so every server built from :func:`uvicorn_config` has them (``callbridge-webhooks``, and
the devkit's embedded server that ``callbridge up`` and the tests use).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 26\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"too many open connections\n"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    request_timeout_s: float = 10.0
    """From a connection's opening (or its previous response) to the end of its next complete request."""
    max_connections: int = 1000
    """Open connections; a connection beyond them is answered 503 and closed."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request deadline and a connection cap (see the module doc)."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    _refused = False
    _deadline: asyncio.TimerHandle | None = None

    # uvicorn's own signature, which narrows asyncio's BaseTransport to the stream Transport it gets.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refused = True
            logger.warning("refused a connection: %d open (max_connections)", len(self.connections))
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return  # never counted, nothing to release
        self._disarm_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # closing; whatever it sent is not read
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request has the same time to arrive whole

    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._on_deadline)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            return  # a complete request is being answered; its response arms the next deadline
        if not self.transport.is_closing():
            logger.debug("closed a connection with no complete request in %ss", self.limits.request_timeout_s)
            self.transport.close()


def limited_protocol(server_limits: ConnectionLimits) -> type[LimitedHttpProtocol]:
    """The protocol class for one server: uvicorn instantiates it per connection with its own arguments."""

    class ServerProtocol(LimitedHttpProtocol):
        limits = server_limits

    return ServerProtocol


def uvicorn_config(
    app: Any, *, host: str, port: int, log_level: str, limits: ConnectionLimits, **options: Any
) -> uvicorn.Config:
    """A uvicorn configuration whose connections are bounded by ``limits``.

    WebSocket upgrades are off (``ws="none"``): no route takes one, and an upgraded connection would leave
    this protocol's deadline behind. uvicorn installs no log handlers of its own (``log_config=None``): its
    lines, access lines included, go to the process's handler (JSON, with the call id: common logs.py).
    """
    options.setdefault("log_config", None)
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, http=limited_protocol(limits), ws="none", **options
    )
