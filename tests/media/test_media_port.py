"""The media port bounds its connections: a handshake must complete within the request timeout, and beyond
the cap new connections are answered 503 and closed; real sockets against the real server."""

from __future__ import annotations

import asyncio

import httpx

from tests.connections import HALF_A_REQUEST_LINE, open_connections
from tests.media.helpers import MediaPort

HOST = "127.0.0.1"
TIMEOUT_S = 1.0
SLACK_S = 2.0  # how late the server may close, beyond the timeout, on a loaded machine


async def test_connections_without_a_complete_handshake_are_closed_within_the_request_timeout(
    media_port: MediaPort,
) -> None:
    async with media_port(request_timeout_s=TIMEOUT_S) as port:
        silent = await open_connections(HOST, port, 25)
        half = await open_connections(HOST, port, 25, HALF_A_REQUEST_LINE)
        closed = await asyncio.gather(*(c.closed_after_s(TIMEOUT_S + SLACK_S) for c in [*silent, *half]))
        assert min(closed) >= TIMEOUT_S * 0.9
        assert max(closed) <= TIMEOUT_S + SLACK_S


async def test_connections_beyond_the_cap_are_refused_and_a_request_gets_through_once_others_close(
    media_port: MediaPort,
) -> None:
    async with media_port(request_timeout_s=30.0, media_max_connections=20, max_calls=10) as port:
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
