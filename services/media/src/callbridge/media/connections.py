"""The media port, bounded: at most ``media_max_connections`` connections at once, counting those still in
their handshake; one more is answered 503 and closed at once rather than held.

``websockets`` already closes a connection whose handshake is not done within ``open_timeout`` (set from
``CALLBRIDGE_REQUEST_TIMEOUT_S``), but caps nothing. Its server makes one handler task per accepted
connection and forgets it when the connection is done, so that set is the count; the check sits where a
connection is made, before its handler task exists.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection

logger = logging.getLogger(__name__)

BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 26\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"too many open connections\n"
)


class LimitedServerConnection(ServerConnection):
    max_connections: ClassVar[int] = 1000

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.server.handler_tasks) < self.max_connections:
            super().connection_made(transport)
            return
        # The connection's own state, without the handler task that would serve it.
        Connection.connection_made(self, transport)
        logger.warning("refused a connection: %d open (max_connections)", len(self.server.handler_tasks))
        self.transport.write(BUSY_RESPONSE)
        self.transport.close()


def limited_connection(limit: int) -> type[LimitedServerConnection]:
    """The connection class for one server (``serve(create_connection=...)``)."""

    class ServerLimitedConnection(LimitedServerConnection):
        max_connections = limit

    return ServerLimitedConnection
