"""Batch progress events: ``callbridge.batches.<batchId>.progress`` in the events stream, at most one a
second per batch from each replica, and at once when the batch pauses, resumes or ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from nats.js import JetStreamContext
from pydantic import ConfigDict, Field

from callbridge.common import subjects
from callbridge.common.batch_store import BatchStore
from callbridge.common.models.base import ApiModel
from callbridge.common.models.batch import ScheduledCallStatus, StoredBatch

MIN_INTERVAL_S = 1.0
PUBLISH_TIMEOUT_S = 5.0


class BatchProgressed(ApiModel):
    """A batch's counts changed."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    batch_id: UUID
    agent_id: UUID
    total_count: int
    completed_count: int
    status_counts: dict[ScheduledCallStatus, int]
    paused: bool
    paused_reason: str | None = None
    ended_at: datetime | None = None


class ProgressPublisher:
    def __init__(
        self, js: JetStreamContext, batches: BatchStore, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._js = js
        self._batches = batches
        self._monotonic = monotonic
        self._last: dict[UUID, tuple[float, bool, bool]] = {}
        self.published = 0

    async def publish(self, batch: StoredBatch) -> None:
        state = (batch.paused, batch.ended_at is not None)
        last = self._last.get(batch.batch_id)
        now = self._monotonic()
        if last is not None and last[1:] == state and now - last[0] < MIN_INTERVAL_S:
            return
        self._last[batch.batch_id] = (now, *state)
        counts = (await self._batches.progress(batch.batch_id)).counts()
        event = BatchProgressed(
            batch_id=batch.batch_id,
            agent_id=batch.agent_id,
            total_count=batch.total_count,
            completed_count=sum(count for status, count in counts.items() if status.final),
            status_counts=counts,
            paused=batch.paused,
            paused_reason=batch.paused_reason,
            ended_at=batch.ended_at,
        )
        await self._js.publish(
            subjects.batch_event(batch.batch_id, "progress"),
            event.model_dump_json().encode(),
            stream=subjects.EVENTS_STREAM,
            timeout=PUBLISH_TIMEOUT_S,
            headers={"Nats-Msg-Id": str(event.event_id)},
        )
        self.published += 1
