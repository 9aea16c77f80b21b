"""A simulated call's status callbacks: posted one after another in the order the call produced them (as the
providers deliver a call's callbacks), signed when sent, each answer recorded for the tests.

A callback is built when it is sent (``Callback.build``), so a signature with a timestamp (Telnyx's) is
fresh; delivery never holds the call up: the call goes on while its callbacks queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

__all__ = ["Callback", "CallbackRecord", "CallbackSender", "SignedRequest"]

LOGGER = logging.getLogger(__name__)
MAX_QUEUED = 64
"""A call posts fewer than a dozen callbacks; more queued than this is a simulator bug, raised at once."""
DEFAULT_TIMEOUT_S = 10.0
_ANSWER_EXCERPT_CHARS = 300


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One HTTP request as the provider sends it: method, URL (a GET's query included), headers, body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback to send: its name in the provider's words and how to build the signed request."""

    event: str
    """``initiated``, ``stream-started``, ``call.hangup``, ``Hangup``, ``terminal`` …"""
    build: Callable[[], SignedRequest]


@dataclass(slots=True)
class CallbackRecord:
    """One callback the account sent, and what the receiver answered."""

    event: str
    request: SignedRequest
    sent_at_s: float
    """``time.monotonic()`` when it was sent."""
    status_code: int | None = None
    """The receiver's HTTP status; None when it could not be reached or did not answer in time."""
    answer: str = ""
    """The start of the receiver's answer, or why there was none."""


@dataclass
class CallbackSender:
    """Sends one call's callbacks in order on a task of its own; ``close`` waits until all are sent."""

    http: httpx.AsyncClient
    name: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    sent: list[CallbackRecord] = field(default_factory=list)
    delivered: asyncio.Condition = field(default_factory=asyncio.Condition)
    """Notified after each callback is sent (tests wait on it for the n-th callback)."""
    _queue: asyncio.Queue[Callback | None] = field(
        init=False, default_factory=lambda: asyncio.Queue(MAX_QUEUED)
    )
    _task: asyncio.Task[None] | None = field(init=False, default=None)

    def post(self, callback: Callback) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"callbacks-{self.name}")
        self._queue.put_nowait(callback)

    async def close(self) -> None:
        """Send what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    async def abort(self) -> None:
        """Stop at once, sending nothing more (the account is stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[CallbackRecord]:
        """The first ``count`` callbacks, once sent."""
        async with asyncio.timeout(timeout_s), self.delivered:
            await self.delivered.wait_for(lambda: len(self.sent) >= count)
        return self.sent[:count]

    async def _run(self) -> None:
        while (callback := await self._queue.get()) is not None:
            request = callback.build()
            record = CallbackRecord(callback.event, request, time.monotonic())
            try:
                response = await self.http.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.body or None,
                    timeout=self.timeout_s,
                )
            except httpx.HTTPError as exc:
                record.answer = f"{type(exc).__name__}: {exc}"[:_ANSWER_EXCERPT_CHARS]
                LOGGER.warning(
                    "%s callback %s to %s failed: %s", self.name, callback.event, _host(request.url), exc
                )
            else:
                record.status_code = response.status_code
                record.answer = response.text[:_ANSWER_EXCERPT_CHARS]
            async with self.delivered:
                self.sent.append(record)
                self.delivered.notify_all()


def _host(url: str) -> str:
    """Where a callback went, without its path or user info (an Exotel status URL carries a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
