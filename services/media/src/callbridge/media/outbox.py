"""Call events leave the media replica through one ordered, bounded outbox.

Publishing to JetStream waits for the server's acknowledgement. Doing that inline would let a slow or
unreachable NATS stall a caller's audio (a DTMF key, a transcript), so the call path only enqueues, and one
task per replica publishes in order, retrying while NATS is away. Order is kept across all of a replica's
events, so ``ended`` is never published before the events of the same call that preceded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from callbridge.common.events import CallEvent
from callbridge.media import metrics
from callbridge.media.ratelimit import RateLimiter, held_back_note

logger = logging.getLogger(__name__)

MAX_PENDING_EVENTS = 50_000
RETRY_DELAY_S = 0.5
MAX_ATTEMPTS = 20  # about 10 s of NATS outage per event before it is given up (and logged)


class Publisher(Protocol):
    """Where events go: callbridge.common.bus.EventPublisher (JetStream) in the service."""

    async def publish(self, event: CallEvent) -> None: ...


class EventOutbox:
    def __init__(
        self,
        publisher: Publisher,
        *,
        max_pending: int = MAX_PENDING_EVENTS,
        retry_delay_s: float = RETRY_DELAY_S,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._publisher = publisher
        self._queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=max_pending)
        self._retry_delay_s = retry_delay_s
        self._max_attempts = max_attempts
        self._worker: asyncio.Task[None] | None = None
        self._drop_reports = RateLimiter(asyncio.get_running_loop().time)
        self.dropped = 0
        """Events not queued because the outbox was full (also ``callbridge_media_events_dropped_total``)."""

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="event-outbox")

    def emit(self, event: CallEvent) -> None:
        """Queue an event for publishing; never waits. A full outbox drops the event and logs it."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            metrics.EVENTS_DROPPED.inc()
            held_back = self._drop_reports.allow()  # a full outbox drops many: log a few, say how many
            if held_back is not None:
                logger.error(
                    "event outbox full: dropped %s of call %s%s",
                    event.EVENT,
                    event.call_id,
                    held_back_note(held_back),
                )

    async def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued so far is published; False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._queue.join()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        if not await self.flush(timeout_s):
            logger.error("event outbox closed with %d events unpublished", self._queue.qsize())
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._publish(event)
            finally:
                self._queue.task_done()

    async def _publish(self, event: CallEvent) -> None:
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._publisher.publish(event)
            except Exception as exc:  # NATS errors and timeouts alike: retry, the event id de-duplicates
                if attempt == self._max_attempts:
                    metrics.EVENTS_GIVEN_UP.inc()
                    logger.error("gave up publishing %s of call %s: %s", event.EVENT, event.call_id, exc)
                    return
                await asyncio.sleep(self._retry_delay_s)  # a back-off while NATS is away
            else:
                return
