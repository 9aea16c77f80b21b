"""The outbound calls of one simulated provider account: the callee script that decides what each dialed
number does, one named task per call (kept, its failure logged, cancelled when the account stops), and the
HTTP client their callbacks and answer-URL requests go out on.

The account's REST API (``SimulatedRestApi``) owns one; ``serve`` runs it. Tests read a call by the
provider's call id in ``calls`` and wait on its ``ended`` event; ``observers`` see each step as it happens
(``callbridge sim account`` prints them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from callbridge.devkit.simulators.base import SimulatorOptions
from callbridge.devkit.simulators.rest.callbacks import CallbackSender
from callbridge.devkit.simulators.rest.callee import CalleeScript
from callbridge.devkit.simulators.rest.outbound import CallFlow, OutboundCall, run_call

__all__ = ["DEFAULT_CALLBACK_TIMEOUT_S", "CallObserver", "OutboundCalls"]

LOGGER = logging.getLogger(__name__)
DEFAULT_CALLBACK_TIMEOUT_S = 10.0
MAX_CALLS = 10_000
"""Calls kept for reading back; the oldest ended ones are forgotten beyond this (a long-running account)."""

CallObserver = Callable[[OutboundCall, str], None]
"""Told of each step of each call (``ringing``, ``answered``, ``ended busy`` …)."""


class OutboundCalls:
    """The calls one simulated account placed, by the provider's call id."""

    def __init__(
        self,
        provider: str,
        script: CalleeScript,
        *,
        allow_insecure_ws: bool,
        ssl_context: ssl.SSLContext | None,
        callback_timeout_s: float,
    ) -> None:
        self.provider = provider
        self.script = script
        self.calls: dict[str, OutboundCall] = {}
        self.observers: list[CallObserver] = []
        self.allow_insecure_ws = allow_insecure_ws
        self.ssl_context = ssl_context
        self.callback_timeout_s = callback_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError(f"the simulated {self.provider} account is not running: serve() it first")
        return self._http

    def stream_options(self) -> SimulatorOptions:
        """How the inbound simulators that stream the calls are set up: this account's HTTP client and TLS."""
        return {
            "http_client": self.http,
            "allow_insecure_ws": self.allow_insecure_ws,
            "ssl_context": self.ssl_context,
            "webhook_timeout_s": self.callback_timeout_s,
        }

    def sender(self, call_id: str) -> CallbackSender:
        return CallbackSender(self.http, f"{self.provider}-{call_id}", self.callback_timeout_s)

    def note(self, call: OutboundCall, step: str) -> None:
        for observer in self.observers:
            observer(call, step)

    def start(self, flow: CallFlow) -> None:
        """Play ``flow``'s call on a task of its own."""
        call = flow.call
        self._forget_old()
        self.calls[call.call_id] = call
        task = asyncio.create_task(run_call(flow, self.note), name=f"{self.provider}-call-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("simulated call task %s failed", task.get_name(), exc_info=task.exception())

    def _forget_old(self) -> None:
        while len(self.calls) >= MAX_CALLS:
            oldest = next((key for key, call in self.calls.items() if call.ended.is_set()), None)
            if oldest is None:
                return
            del self.calls[oldest]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While inside, calls can be placed; on leaving, those still under way are hung up (cancelled)."""
        verify: Any = self.ssl_context if self.ssl_context is not None else True
        async with httpx.AsyncClient(verify=verify, follow_redirects=False) as http:
            self._http = http
            try:
                yield
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._http = None
