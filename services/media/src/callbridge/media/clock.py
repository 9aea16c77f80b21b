"""The clock a call's timing runs on: reading the time, sleeping and timers, all on one clock.

Pacing compares "now" with when the provider will have played what was sent, then sleeps the difference.
If "now" came from one clock and the sleep ran on another (``time.monotonic()`` against the event loop's,
or a test's fake clock against a real sleep), the two would disagree by whatever their offset is, and a
pacer could sleep for ever. So whatever reads the time also sleeps and sets timers through the same
object: in the service, :class:`LoopClock`, the event loop's own clock (uvloop's included).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on this clock."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Sleep ``delay_s`` seconds of this clock."""
        ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` at ``when`` (this clock's seconds)."""
        ...


class LoopClock:
    """The running event loop's clock: ``loop.time()``, ``asyncio.sleep`` and ``loop.call_at``."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self.now: Callable[[], float] = self._loop.time
        """The loop's own bound ``time``: read several times per frame, so no method layer around it."""

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle:
        return self._loop.call_at(when, callback)
