"""Recording an attempt's outcome on its scheduled call, once: the chunk is changed by compare-and-set and
only if that attempt is still the call's current, unended one, so an ``ended`` event delivered twice (or
a status callback counted twice upstream) changes nothing the second time. Then: the call's capacity slot
is freed, progress is noted, the batch auto-pauses when its recent attempts fail too often, and a
progress event is published."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from callbridge.common.batch_store import AttemptLink, BatchChunk, BatchStore
from callbridge.common.capacity import CapacityLedger
from callbridge.common.grouping import GroupCommitter
from callbridge.common.models.batch import ScheduledCall, StoredBatch
from callbridge.common.scheduler.outcomes import finish_attempt, is_failure
from callbridge.common.store import NotFoundError, UnchangedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Outcome:
    link: AttemptLink
    outcome: str
    detail: str | None


ProgressHook = Callable[[StoredBatch], Awaitable[None]]


class OutcomeRecorder:
    def __init__(
        self,
        batches: BatchStore,
        capacity: CapacityLedger,
        clock: Callable[[], datetime],
        on_progress: ProgressHook | None = None,
    ) -> None:
        self._batches = batches
        self._capacity = capacity
        self._clock = clock
        self._on_progress = on_progress
        self.listeners: list[Callable[[], None]] = []
        """Told after outcomes were recorded (the scheduler wakes: a line may be free)."""
        self._writers: dict[tuple[UUID, int], GroupCommitter[_Outcome, bool]] = {}
        self.recorded = 0
        """Outcomes recorded by this process (duplicates excluded)."""

    async def record(self, link: AttemptLink, outcome: str, detail: str | None) -> bool:
        """Record ``outcome`` for the attempt ``link`` names; False when it was recorded already, or its
        batch is gone. Outcomes for one chunk arriving together are written in one compare-and-set."""
        key = (link.batch_id, link.chunk)
        writer = self._writers.get(key)
        if writer is None:

            async def commit(outcomes: Sequence[_Outcome]) -> list[bool]:
                return await self._commit(key, outcomes)

            writer = self._writers[key] = GroupCommitter(
                commit, name=f"outcomes-{link.batch_id}-{link.chunk}"
            )
        return await writer.submit(_Outcome(link, outcome, detail))

    async def _commit(self, key: tuple[UUID, int], outcomes: Sequence[_Outcome]) -> list[bool]:
        batch_id, number = key
        try:
            batch = (await self._batches.get(batch_id)).value
        except NotFoundError:
            return [False] * len(outcomes)
        now = self._clock()
        finished: dict[int, ScheduledCall] = {}

        def apply(chunk: BatchChunk) -> BatchChunk:
            finished.clear()
            calls = list(chunk.calls)
            first = calls[0].index
            for order, item in enumerate(outcomes):
                position = item.link.index - first
                if not 0 <= position < len(calls) or calls[position].index != item.link.index:
                    continue
                changed = finish_attempt(
                    calls[position], batch, item.link.attempt, item.outcome, item.detail, now
                )
                if changed is not None:
                    calls[position] = changed
                    finished[order] = changed
            if not finished:
                raise UnchangedError
            return BatchChunk(calls=calls)

        try:
            written = await self._batches.mutate_chunk(batch_id, number, apply)
        except NotFoundError:  # the batch was deleted meanwhile
            return [False] * len(outcomes)
        if not finished:
            return [False] * len(outcomes)
        self.recorded += len(finished)
        for listener in self.listeners:
            listener()
        by_account: dict[str, list[UUID]] = {}
        for order, call in finished.items():
            attempt = next(a for a in call.attempts if a.number == outcomes[order].link.attempt)
            if call.dials and call.medium is not None:
                by_account.setdefault(call.medium.provider.value, []).append(attempt.call_id)
        for account, call_ids in by_account.items():
            await self._capacity.release(account, call_ids)
        failures = [is_failure(outcomes[order].outcome) for order in sorted(finished)]
        await self._batches.note_progress(batch_id, number, written.value, written.revision, failures)
        batch = await self._auto_pause(batch)
        if self._on_progress is not None:
            await self._on_progress(batch)
        return [order in finished for order in range(len(outcomes))]

    async def progressed(self, batch: StoredBatch) -> None:
        """Announce the batch's progress (it paused, resumed or ended)."""
        if self._on_progress is not None:
            await self._on_progress(batch)

    async def _auto_pause(self, batch: StoredBatch) -> StoredBatch:
        rule = batch.auto_pause
        if rule is None or batch.paused:
            return batch
        recent = (await self._batches.progress(batch.batch_id)).recent_failures[-rule.recent_attempts :]
        failed = sum(recent)
        if len(recent) < rule.recent_attempts or failed / len(recent) < rule.failure_rate:
            return batch
        reason = (
            f"paused itself: {failed} of the last {len(recent)} attempts failed (busy, no answer or failed), "
            f"at or above autoPause.failureRate {rule.failure_rate:g}; PATCH paused=false resumes it"
        )

        def pause(current: StoredBatch) -> StoredBatch:
            if current.paused:
                raise UnchangedError
            return current.model_copy(update={"paused": True, "paused_reason": reason})

        logger.warning("batch %s %s", batch.batch_id, reason)
        try:
            return await self._batches.change(batch.batch_id, pause)
        except NotFoundError:
            return batch


def attempt_link(batch_id: UUID, chunk: int, call: ScheduledCall) -> AttemptLink:
    current = call.current
    assert current is not None
    return AttemptLink(batch_id=batch_id, chunk=chunk, index=call.index, attempt=current.number)
