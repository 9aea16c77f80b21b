"""The webhooks port bounds its connections: each must send a complete request within the request timeout,
and beyond the cap new ones are answered 503 and closed, with real sockets against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app
from tests.connections import HALF_A_REQUEST_LINE, open_connections, trickle
from tests.webhooks.helpers import API_KEY, SECRET_KEY

HOST = "127.0.0.1"
TIMEOUT_S = 1.0
# How late the server may close, beyond the timeout, on a loaded CI machine.
SLACK_S = 2.0

Server = Callable[..., AbstractAsyncContextManager[int]]


@pytest.fixture
def webhooks(nats_url: str, clean_jetstream: None) -> Server:
    @asynccontextmanager
    async def start(**limits: Any) -> AsyncIterator[int]:
        port = free_port()
        settings = WebhooksSettings(
            nats_url=nats_url,
            api_key=SecretStr(API_KEY),
            secret_key=SecretStr(SECRET_KEY),
            port=port,
            **limits,
        )
        async with serve_asgi(create_app(settings), HOST, port, limits=settings.connection_limits):
            yield port

    return start


async def test_connections_without_a_complete_request_are_closed_within_the_request_timeout(
    webhooks: Server,
) -> None:
    async with webhooks(request_timeout_s=TIMEOUT_S) as port:
        silent = await open_connections(HOST, port, 25)
        half = await open_connections(HOST, port, 25, HALF_A_REQUEST_LINE)
        (slow,) = await open_connections(HOST, port, 1, b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        trickling = asyncio.create_task(trickle(slow, b"X-Slow: " + b"a" * 200, every_s=0.2))
        closed = await asyncio.gather(
            *(c.closed_after_s(TIMEOUT_S + SLACK_S) for c in [*silent, *half, slow])
        )
        await trickling
        assert len(closed) == 51
        assert min(closed) >= TIMEOUT_S * 0.9
        assert max(closed) <= TIMEOUT_S + SLACK_S
        # A peer that sends its request gets the answer, and its idle connection is closed in turn.
        (client,) = await open_connections(HOST, port, 1, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await client.answer(TIMEOUT_S + SLACK_S)
        assert answer.startswith(b"HTTP/1.1 200")


async def test_connections_beyond_the_cap_are_refused_and_a_request_gets_through_once_others_close(
    webhooks: Server,
) -> None:
    async with webhooks(request_timeout_s=30.0, max_connections=20) as port:
        held = await open_connections(HOST, port, 20)
        excess = await open_connections(HOST, port, 5)
        answers = await asyncio.gather(*(c.answer(SLACK_S) for c in excess))
        assert all(answer.startswith(b"HTTP/1.1 503") for answer in answers), answers
        for connection in held[:5]:
            await connection.close()
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as client, asyncio.timeout(5):
            while True:  # the server learns of the closes as its loop gets to them
                try:
                    response = await client.get("/livez")
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    break
        for connection in held[5:]:
            await connection.close()
