"""The deliveries work queue: one message per event and receiver (an account webhook, or a call's own
callback), kept until it is delivered or given up; and the per-receiver progress of each call."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from pydantic import Field

from callbridge.common import subjects
from callbridge.common.account_webhooks.models import WebhookEvent
from callbridge.common.models.base import StoredModel

DELIVERIES_STREAM = "CALLBRIDGE_WEBHOOK_DELIVERIES"
DELIVERY_PREFIX = f"{subjects.PREFIX}.webhook_deliveries"
CALLBACKS_SEGMENT = "callbacks"
"""In place of a webhook id, in the subjects and progress keys of a call's own callbacks."""


def delivery_subject(webhook_id: UUID | None, call_id: UUID) -> str:
    """``…webhook_deliveries.<webhookId>.<callId>``; a call's own callback: ``…callbacks.<callId>``."""
    return f"{DELIVERY_PREFIX}.{webhook_id or CALLBACKS_SEGMENT}.{call_id}"


def progress_key(webhook_id: UUID | None, call_id: UUID) -> str:
    return f"{webhook_id or CALLBACKS_SEGMENT}.{call_id}"


class Delivery(StoredModel):
    webhook_id: UUID | None = None
    """The account webhook it goes to; None: the call's own callback of ``event`` (``callbacks``)."""
    call_id: UUID
    event: WebhookEvent
    occurred_at: datetime
    body: str
    """The exact JSON body POSTed (the same bytes on every attempt)."""


class Progress(StoredModel):
    """Per receiver and call: the events done (delivered or given up) and the failed attempts of each."""

    done: list[WebhookEvent] = Field(default_factory=list)
    attempts: dict[WebhookEvent, int] = Field(default_factory=dict)


async def ensure_delivery_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    config = StreamConfig(
        name=DELIVERIES_STREAM,
        subjects=[f"{DELIVERY_PREFIX}.>"],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        max_age=timedelta(days=2).total_seconds(),
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)
