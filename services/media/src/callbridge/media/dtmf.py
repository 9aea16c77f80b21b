"""Caller key presses to the agent: consecutive digits are batched and sent after a short pause.

Ultravox batches "consecutive digits ... after a short delay" (reference: ultravox-api §1.2); a caller
typing an account number then reaches the agent as one message, not one message per key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from callbridge.common.models.medium import DtmfHandling, Urgency

logger = logging.getLogger(__name__)

BATCH_PAUSE_S = 0.4
"""Digits pressed within this long of each other go out together."""
MAX_BATCH_DIGITS = 64


class DtmfBatcher:
    def __init__(
        self,
        handling: DtmfHandling,
        send: Callable[[str, Urgency], Coroutine[Any, Any, None]],
        *,
        pause_s: float = BATCH_PAUSE_S,
    ) -> None:
        self._handling = handling
        self._send = send
        self._pause_s = pause_s
        self._digits: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> str:
        """Digits waiting for the pause to end."""
        return "".join(self._digits)

    def press(self, digit: str) -> None:
        if self._handling.ignore:
            return
        self._digits.append(digit)
        if self._timer is not None:
            self._timer.cancel()
        if len(self._digits) >= MAX_BATCH_DIGITS:
            self._flush()
            return
        self._timer = asyncio.get_running_loop().call_later(self._pause_s, self._flush)

    def _flush(self) -> None:
        self._timer = None
        digits, self._digits = "".join(self._digits), []
        rendered = self._handling.render(digits)
        if not digits or rendered is None:
            return
        task: asyncio.Task[None] = asyncio.create_task(self._send(*rendered), name="dtmf-send")
        self._flushing.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("sending DTMF to the agent failed", exc_info=task.exception())

    async def close(self) -> None:
        """Drop digits not yet sent (the call is over) and wait for sends in flight."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._digits.clear()
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
