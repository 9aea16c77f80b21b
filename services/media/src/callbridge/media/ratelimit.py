"""Rate limits on what one call reports: events about bad input and warning log lines.

A peer that sends garbage (a provider's error frames, malformed frames, an agent's invalid messages) must
not turn each one into an event on the bus and a line in the log: one call could flood both. Each kind of
report of a call goes through a token bucket: ``burst`` reports at once, then at most one per
``interval_s``. What is held back is counted; the next report that goes out says how many it stands for,
and the call's totals go on its ``ended`` event and into the metrics.

Nothing here runs on a call's happy path: a limiter is consulted only when something is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

REPORT_BURST: Final = 5
REPORT_INTERVAL_S: Final = 10.0


class RateLimiter:
    """A token bucket: ``burst`` at once, then one per ``interval_s``; counts what it holds back."""

    __slots__ = ("_clock", "_interval_s", "_last", "_tokens", "burst", "held_back", "total_held_back")

    def __init__(
        self, clock: Callable[[], float], *, burst: int = REPORT_BURST, interval_s: float = REPORT_INTERVAL_S
    ) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self.burst = burst
        self._tokens = float(burst)
        self._last = clock()
        self.held_back = 0
        """Occurrences held back since the last one that went out."""
        self.total_held_back = 0

    def allow(self) -> int | None:
        """One occurrence: None when it is to be held back, else how many were held back before it (they
        are then counted as reported with it)."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) / self._interval_s)
        self._last = now
        if self._tokens < 1.0:
            self.held_back += 1
            self.total_held_back += 1
            return None
        self._tokens -= 1.0
        held_back, self.held_back = self.held_back, 0
        return held_back


def held_back_note(held_back: int) -> str:
    return f" ({held_back} more like it held back)" if held_back else ""


class CallLog:
    """One call's log lines, tagged with its id: warnings and errors rate-limited (one bucket per call,
    shared by the session, the provider stream and the agent connection), info lines not."""

    __slots__ = ("_limiter", "_logger", "call_id")

    def __init__(self, logger: logging.Logger, call_id: UUID, limiter: RateLimiter) -> None:
        self._logger = logger
        self._limiter = limiter
        self.call_id = call_id

    @classmethod
    def for_call(cls, logger: logging.Logger, call_id: UUID, clock: Callable[[], float]) -> CallLog:
        return cls(logger, call_id, RateLimiter(clock))

    def child(self, logger: logging.Logger) -> CallLog:
        """The same call's log, and the same limit, under another module's logger."""
        return CallLog(logger, self.call_id, self._limiter)

    @property
    def held_back(self) -> int:
        """Warning and error lines of this call not logged."""
        return self._limiter.total_held_back

    def info(self, message: str, *args: object) -> None:
        self._logger.info(f"call %s: {message}", self.call_id, *args, extra={"call_id": str(self.call_id)})

    def warning(self, message: str, *args: object) -> None:
        self._limited(logging.WARNING, message, args, exc_info=False)

    def error(self, message: str, *args: object, exc_info: BaseException | bool = False) -> None:
        self._limited(logging.ERROR, message, args, exc_info=exc_info)

    def report(self, message: str, *args: object) -> None:
        """A warning that goes with an event its own limiter let through (the event's count is in it)."""
        self._logger.warning(f"call %s: {message}", self.call_id, *args, extra={"call_id": str(self.call_id)})

    def _limited(
        self, level: int, message: str, args: tuple[object, ...], *, exc_info: BaseException | bool
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        held_back = self._limiter.allow()
        if held_back is None:
            return
        self._logger.log(
            level,
            f"call %s: {message}%s",
            self.call_id,
            *args,
            held_back_note(held_back),
            exc_info=exc_info,
            extra={"call_id": str(self.call_id)},
        )
