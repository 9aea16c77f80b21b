"""Dial requests: the command that asks a dialer to place an outbound call's provider call, and the
JetStream work-queue stream that carries it (``CALLBRIDGE_DIAL``).

A request names the call and the attempt; ``(callId, attempt)`` is its idempotency key. JetStream drops a
second publish of the same key within the stream's duplicate window, and the dialer claims the attempt on
the call record before dialing, so a request delivered twice is dialed once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from pydantic import ConfigDict, Field

from callbridge.common import subjects
from callbridge.common.models.base import ApiModel
from callbridge.common.work_queues import ensure_stream, publish_command, work_queue_config

DIAL_DUPLICATE_WINDOW: Final = timedelta(minutes=10)
DIAL_MAX_AGE: Final = timedelta(days=1)
"""A dial request nobody took within a day is dropped: the call it was for has long ended as unjoined."""


class DialCall(ApiModel):
    """Place the provider call of outbound call ``callId``, attempt ``attempt``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: UUID
    attempt: int = Field(default=1, ge=1, le=100)

    @property
    def idempotency_key(self) -> str:
        return f"{self.call_id}.{self.attempt}"

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def dial_stream_config(replicas: int = 1) -> StreamConfig:
    return work_queue_config(
        subjects.DIAL_STREAM,
        [subjects.DIAL_SUBJECT],
        max_age=DIAL_MAX_AGE,
        duplicate_window=DIAL_DUPLICATE_WINDOW,
        replicas=replicas,
    )


async def ensure_dial_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create (or update) the dial stream with ``replicas`` copies. Idempotent; webhooks and the dialer
    call it at start-up."""
    await ensure_stream(js, dial_stream_config(replicas))


class DialPublisher:
    """Publishes dial requests to the dial stream, de-duplicated by their idempotency key."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(self, request: DialCall) -> None:
        """Publish with the current trace context (W3C ``traceparent`` in the message headers), so the
        dialer's handling and the provider's REST request are spans of the trace that created the call."""
        await publish_command(
            self._js, subjects.DIAL_SUBJECT, subjects.DIAL_STREAM, request.idempotency_key, request.to_json()
        )
