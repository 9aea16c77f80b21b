"""A small fake callbridge for the provider simulator tests: a real HTTP webhook and a real WebSocket server.

Each test sets ``answer`` (what the webhook returns for a request) and ``handler`` (what the stream side
does), then reads what the server saw: the webhook requests as they came over the wire (raw body, headers),
the upgrade requests, and every stream message with its arrival time.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    """Path and query string, as on the request line."""
    headers: dict[str, str]
    """Names lower-cased."""
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class ServerLog:
    """What the stream handler received, with arrival times (monotonic seconds)."""

    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def recv(self, ws: ServerConnection) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT_S):
            message: dict[str, Any] = orjson.loads(await ws.recv())
        self.messages.append((time.monotonic(), message))
        return message

    async def recv_until(
        self, ws: ServerConnection, wanted: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Receive (and log) messages until one is ``wanted``; return that one."""
        while not wanted(message := await self.recv(ws)):
            pass
        return message

    async def recv_until_closed(self, ws: ServerConnection) -> None:
        try:
            while True:
                await self.recv(ws)
        except ConnectionClosed:
            return

    def events(self) -> list[str]:
        return [message["event"] for _, message in self.messages]

    def of(self, event: str) -> list[tuple[float, dict[str, Any]]]:
        return [(at, message) for at, message in self.messages if message["event"] == event]


Answer = Callable[[HttpRequest], tuple[int, str, str]]
"""A webhook request -> (status, content type, body)."""
StreamHandler = Callable[[ServerConnection, ServerLog], Awaitable[None]]


@dataclass
class FakeServer:
    http_url: str
    """``http://127.0.0.1:PORT`` (no path)."""
    ws_url: str
    """``ws://127.0.0.1:PORT`` (no path)."""
    answer: Answer = lambda request: (500, "text/plain", "no answer set")
    handler: StreamHandler | None = None
    requests: list[HttpRequest] = field(default_factory=list)
    upgrades: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """(path with query, headers) of each WebSocket upgrade."""
    log: ServerLog = field(default_factory=ServerLog)


def media_chunk_at_least(chunk: int) -> Callable[[dict[str, Any]], bool]:
    """Matches the caller's media frame ``chunk`` or a later one: the simulated stream's clock has reached
    ``(chunk - 1) * 20 ms``. Waiting on it, a handler acts at a point of the call, not of the wall clock."""

    def wanted(message: dict[str, Any]) -> bool:
        return message.get("event") == "media" and int(message["media"]["chunk"]) >= chunk

    return wanted


def mark_echo(name: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the provider's echo of the mark ``name`` (its audio has played, or a clear dropped it)."""

    def wanted(message: dict[str, Any]) -> bool:
        return message.get("event") == "mark" and message.get("mark", {}).get("name") == name

    return wanted


def to_text(message: dict[str, Any]) -> str:
    """JSON as a text frame, which every provider expects."""
    return orjson.dumps(message).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@asynccontextmanager
async def running_fake_server() -> AsyncIterator[FakeServer]:
    """A running fake; both servers close on exit."""
    holder: list[FakeServer] = []

    async def handle_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fake = holder[0]
        try:
            async with asyncio.timeout(TIMEOUT_S):
                method, target, _ = (await reader.readline()).decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = HttpRequest(method, target, headers, body)
                fake.requests.append(request)
                status, content_type, text = fake.answer(request)
                payload = text.encode()
                head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
                head += f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                writer.write(head.encode() + payload)
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    async def handle_ws(ws: ServerConnection) -> None:
        fake = holder[0]
        assert ws.request is not None
        fake.upgrades.append((ws.request.path, dict(ws.request.headers)))
        if fake.handler is not None:
            await fake.handler(ws, fake.log)
        else:
            await fake.log.recv_until_closed(ws)

    http_server = await asyncio.start_server(handle_http, "127.0.0.1", 0)
    async with http_server, serve(handle_ws, "127.0.0.1", 0, compression=None, max_size=2**22) as ws_server:
        http_port = http_server.sockets[0].getsockname()[1]
        ws_port = next(iter(ws_server.sockets)).getsockname()[1]
        holder.append(
            FakeServer(http_url=f"http://127.0.0.1:{http_port}", ws_url=f"ws://127.0.0.1:{ws_port}")
        )
        yield holder[0]
