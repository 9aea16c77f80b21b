"""In-memory doubles for the media unit tests: a provider socket, an agent, an event publisher.

Each stands in for a peer a unit test does not need for real (the provider's WebSocket, the agent's, NATS
for the outbox); what they were sent is recorded, and a test waits on it rather than on time.
"""

from __future__ import annotations

import asyncio

from callbridge.common.events import CallEvent


class FlakyPublisher:
    """An event publisher that fails its next ``failures_left`` attempts (as NATS does while away) and
    blocks while ``hold`` is clear (as a NATS that does not answer)."""

    def __init__(self) -> None:
        self.published: list[CallEvent] = []
        self.attempts = 0
        self.failures_left = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.waiting = asyncio.Event()
        """Set once an attempt is blocked on ``hold``."""

    async def publish(self, event: CallEvent) -> None:
        self.attempts += 1
        if not self.hold.is_set():
            self.waiting.set()
            await self.hold.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("nats: no servers available")
        self.published.append(event)
