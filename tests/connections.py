"""Raw TCP clients for the connection-limit tests: peers that send nothing, half a request, or trickle."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

HALF_A_REQUEST_LINE = b"GET /api/ag"


@dataclass
class RawConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened_at: float = field(default_factory=time.monotonic)

    async def closed_after_s(self, timeout_s: float) -> float:
        """Read until the server closes; seconds from opening to the close. TimeoutError if it does not."""
        async with asyncio.timeout(timeout_s):
            while await self.reader.read(65536):
                pass
        return time.monotonic() - self.opened_at

    async def answer(self, timeout_s: float) -> bytes:
        """Everything the server sends until it closes."""
        received = bytearray()
        async with asyncio.timeout(timeout_s):
            while chunk := await self.reader.read(65536):
                received += chunk
        return bytes(received)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the server may have closed first
            await self.writer.wait_closed()


async def open_connections(host: str, port: int, count: int, send: bytes = b"") -> list[RawConnection]:
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        if send:
            writer.write(send)
            await writer.drain()
        connections.append(RawConnection(reader, writer))
    return connections


async def trickle(connection: RawConnection, data: bytes, every_s: float) -> None:
    """A slow peer: one byte every ``every_s`` (the pause is the behaviour under test), until closed."""
    for byte in data:
        if connection.reader.at_eof():
            return
        try:
            connection.writer.write(bytes([byte]))
            await connection.writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every_s)
