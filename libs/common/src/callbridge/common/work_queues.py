"""JetStream work-queue streams for commands that must not be lost (dial requests, call-control commands):
each message is taken by one replica of a durable consumer and kept until it is acknowledged, and a second
publish of the same idempotency key within the stream's duplicate window is dropped."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from opentelemetry import propagate
from opentelemetry.context import Context

PUBLISH_TIMEOUT_S: Final = 5.0


def work_queue_config(
    name: str, subjects: list[str], *, max_age: timedelta, duplicate_window: timedelta, replicas: int = 1
) -> StreamConfig:
    """A work-queue stream kept on disk with ``replicas`` copies (``CALLBRIDGE_NATS_REPLICAS``)."""
    return StreamConfig(
        name=name,
        subjects=subjects,
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=max_age.total_seconds(),
        duplicate_window=duplicate_window.total_seconds(),
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create (or update) the stream. Idempotent: every service that publishes or consumes calls it."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def publish_command(
    js: JetStreamContext,
    subject: str,
    stream: str,
    idempotency_key: str,
    body: bytes,
    *,
    context: Context | None = None,
) -> None:
    """Publish with the current trace context, or ``context`` (W3C ``traceparent`` in the headers), so the
    worker's handling is a span of that trace; ``Nats-Msg-Id`` makes a second publish of the key a no-op."""
    headers = {"Nats-Msg-Id": idempotency_key, "content-type": "application/json"}
    propagate.inject(headers, context=context)  # None: the current context
    await js.publish(subject, body, timeout=PUBLISH_TIMEOUT_S, stream=stream, headers=headers)
