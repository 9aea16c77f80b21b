"""HTTP receivers of webhooks and callbacks for the end-to-end tests: real servers that fail first, answer
slowly, verify Ultravox's signature, and record what arrived when."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callbridge.common.account_webhooks.signing import TIMESTAMP_HEADER, verify
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port

SECRET = "whsec-receiver-0123456789"
RETRY_BASE_S = 0.2


@dataclass
class Received:
    event: str
    call_id: str
    at: float
    verified: bool
    body: dict[str, Any]


@dataclass
class Receiver:
    """An HTTP receiver: answers ``fail_first`` requests with 500 (then 204), and ``fail_first_per_call``
    of each call's, each after ``delay_s``."""

    fail_first: int = 0
    fail_first_per_call: int = 0
    delay_s: float = 0.0
    requests: int = 0
    received: list[Received] = field(default_factory=list)
    url: str = ""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    secret: str = SECRET
    attempts: list[tuple[float, str, str]] = field(default_factory=list)
    """Every request: when it came (monotonic s), its event and call id, failed ones included."""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests += 1
        with contextlib.suppress(ValueError, KeyError, TypeError):
            sent = json.loads(body)
            self.attempts.append((time.monotonic(), sent["event"], sent["call"]["callId"]))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # a slow receiver, by design
        if self.requests <= self.fail_first:
            return Response(status_code=500)
        if self.fail_first_per_call and self.attempts:
            call_id = self.attempts[-1][2]
            if sum(1 for attempt in self.attempts if attempt[2] == call_id) <= self.fail_first_per_call:
                return Response(status_code=500)
        document = json.loads(body)
        headers = {name: value for name, value in request.headers.items()}
        self.received.append(
            Received(
                document["event"],
                document["call"]["callId"],
                time.monotonic(),
                verify(self.secret, body, headers) and TIMESTAMP_HEADER.lower() in headers,
                document,
            )
        )
        self.changed.set()
        return Response(status_code=204)

    def events_of(self, call_id: str) -> list[str]:
        return [r.event for r in self.received if r.call_id == call_id]

    async def wait_for(self, call_id: str, count: int, timeout_s: float = 20.0) -> list[str]:
        async with asyncio.timeout(timeout_s):
            while len(self.events_of(call_id)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.events_of(call_id)


@contextlib.asynccontextmanager
async def receivers(*made: Receiver) -> AsyncIterator[None]:
    routes = []
    for index, receiver in enumerate(made):
        routes.append(Route(f"/hook/{index}", receiver.handle, methods=["POST"]))
    async with serve_asgi(Starlette(routes=routes), "127.0.0.1", free_port()) as base_url:
        for index, receiver in enumerate(made):
            receiver.url = f"{base_url}/hook/{index}"
        yield
