"""The scheduler loop of one dialer replica. Any number run at once; none leads.

Each tick, for each active batch (highest priority first), the replica takes or renews leases on chunks
with work (batch_store.py), reads its chunks, and decides each waiting call (decisions.py). Calls due now
are admitted against the provider account's capacity (capacity.py: never the slots kept for inbound calls)
and the batch's throttle, then marked PENDING with a new attempt and its call id in one compare-and-set
of the chunk, and only then placed (placement.py). So:

- a call is placed only after its attempt is stored: a replica that dies after storing it leaves the
  attempt for the replica taking the chunk over, which places it again with the same call id; placing is
  idempotent per call id, so the callee is dialed at most once per attempt and no attempt is lost;
- two replicas cannot both store an attempt: the second compare-and-set fails, and it places nothing;
- outcomes come from ``ended`` events (recorder.py), at least once, and count once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from callbridge.common.batch_store import AttemptLink, BatchChunk, BatchStore
from callbridge.common.capacity import RATE_WINDOW_MS, AccountLimits, CapacityLedger
from callbridge.common.ids import new_call_id
from callbridge.common.models.batch import (
    Attempt,
    RetryOutcome,
    ScheduledCall,
    ScheduledCallStatus,
    StoredBatch,
)
from callbridge.common.scheduler.decisions import Action, decide
from callbridge.common.scheduler.outcomes import SUCCESS, WEBHOOK_FAILED, start_attempt
from callbridge.common.scheduler.placement import (
    CallPlacer,
    Placement,
    PlacementDeferred,
    PlacementError,
)
from callbridge.common.scheduler.recorder import OutcomeRecorder, attempt_link
from callbridge.common.scheduler.webhook import WebhookFailedError, WebhookSender
from callbridge.common.store import ConflictError, NotFoundError, UnchangedError
from callbridge.common.throttles import ThrottleLedger, ThrottleNotFoundError, ThrottleRegistry

logger = logging.getLogger(__name__)

LimitsOf = Callable[[str], Awaitable[AccountLimits]]


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    owner: str
    """This replica's name in leases."""
    lease_ttl_s: float = 10.0
    """A dead replica's chunks are taken over this long after its last renewal."""
    tick_s: float = 0.1
    """The longest wait between ticks; an outcome wakes the loop at once."""
    max_chunks_per_batch: int = 8
    """Chunks with waiting calls one replica holds per batch (chunks whose calls only await outcomes are
    held besides): more spreads a batch over fewer replicas."""
    place_concurrency: int = 256
    """Placements in flight at once."""


@dataclass
class SchedulerStats:
    decisions: int = 0
    """Waiting calls decided (placed, expired, or left to wait)."""
    placed: int = 0
    expired: int = 0
    conflicts: int = 0
    deferred: int = 0
    """Placements the account refused for want of a line (placed again later)."""
    ticks: int = 0
    decide_seconds: float = 0.0
    """Time spent deciding and admitting (the ticks, placements excluded)."""


@dataclass
class _Held:
    expires_ms: int
    chunk: BatchChunk | None = None
    revision: int = -1
    """The chunk as last read or written here: read again only when its revision changed."""
    confirmed: set[UUID] = field(default_factory=set)
    """Attempts (call ids) this replica has placed: a PENDING attempt not in here is placed again."""


class Scheduler:
    def __init__(
        self,
        batches: BatchStore,
        capacity: CapacityLedger,
        throttles: ThrottleRegistry,
        throttle_usage: ThrottleLedger,
        limits_of: LimitsOf,
        placer: CallPlacer,
        webhooks: WebhookSender,
        decrypt: Callable[[str], str],
        recorder: OutcomeRecorder,
        settings: SchedulerSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._batches = batches
        self._capacity = capacity
        self._throttles = throttles
        self._throttle_usage = throttle_usage
        self._limits_of = limits_of
        self._placer = placer
        self._webhooks = webhooks
        self._decrypt = decrypt
        self._recorder = recorder
        self._settings = settings
        self._clock = clock
        self._held: dict[UUID, dict[int, _Held]] = {}
        self._placing: set[asyncio.Task[None]] = set()
        self._place_slots = asyncio.Semaphore(settings.place_concurrency)
        self._wake = asyncio.Event()
        self._room: dict[str, int] = {}
        self._done: set[UUID] = set()
        """Batches ended or deleted: final, so never read again."""
        self._unadmitted: Counter[str] = Counter()
        self.stats = SchedulerStats()
        recorder.listeners.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Tick until cancelled; a failing tick is logged and the next one tries again."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self._tick_until_cancelled()
                except Exception:  # a NATS hiccup must not stop scheduling: the next tick retries
                    logger.exception("scheduler tick failed")
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that
                # arrives as the wake does, and this loop would then tick on for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.tick_s):
                        await self._wake.wait()
        finally:
            for task in list(self._placing):
                task.cancel()
            await asyncio.gather(*self._placing, return_exceptions=True)

    async def _tick_until_cancelled(self) -> None:
        """One tick, in a task of its own: a cancellation of run() stops run() at once even when the tick
        loses it (nats-py's requests wait with asyncio.wait_for, which on 3.11 can swallow one); the tick is
        then cancelled again and left to end, its outcome logged."""
        tick = asyncio.create_task(self.tick(), name="scheduler-tick")
        try:
            await asyncio.shield(tick)
        except asyncio.CancelledError:
            tick.cancel()
            tick.add_done_callback(_log_abandoned_tick)
            raise

    async def tick(self) -> None:
        started = time.perf_counter()
        self.stats.ticks += 1
        self._room = {}
        now = self._clock()
        batches = await self._active_batches()
        blocked: set[str] = set()  # accounts a batch of higher priority found full this tick
        for batch in batches:
            await self._work_batch(batch, now, blocked)
        self.stats.decide_seconds += time.perf_counter() - started

    async def _active_batches(self) -> list[StoredBatch]:
        active = []
        for batch_id in await self._batches.batch_ids():
            if batch_id in self._done:
                continue
            try:
                batch = (await self._batches.get(batch_id)).value
            except NotFoundError:
                self._held.pop(batch_id, None)
                self._done.add(batch_id)  # deleted: ids are never reused
                continue
            if batch.ended_at is None:
                active.append(batch)
            else:
                self._done.add(batch_id)  # ended for good: not read again
        return sorted(active, key=lambda b: (-b.priority, b.created))

    async def _work_batch(self, batch: StoredBatch, now: datetime, blocked: set[str]) -> None:
        progress = await self._batches.progress(batch.batch_id)
        unfinished = progress.unfinished_chunks()
        held = self._held.setdefault(batch.batch_id, {})
        if not unfinished:
            await self._end(batch, now)
            self._held.pop(batch.batch_id, None)
            return
        now_ms = int(now.timestamp() * 1000)
        ttl_ms = int(self._settings.lease_ttl_s * 1000)
        for number in list(held):
            if number not in unfinished:
                del held[number]
                await self._batches.drop_lease(batch.batch_id, number, self._settings.owner)
            elif held[number].expires_ms - now_ms < ttl_ms * 2 // 3:
                await self._lease(batch.batch_id, number, held, now_ms, ttl_ms)
        waiting = [n for n in unfinished if progress.chunks[n].counts.get(ScheduledCallStatus.FUTURE)]
        pending_only = [n for n in unfinished if n not in waiting]
        holding_waiting = sum(1 for n in held if n in waiting)
        for number in waiting:
            if holding_waiting >= self._settings.max_chunks_per_batch:
                break
            if number not in held and await self._lease(batch.batch_id, number, held, now_ms, ttl_ms):
                holding_waiting += 1
        for number in pending_only:  # a dead replica's attempts: placed again (idempotent) by the taker
            if number not in held:
                await self._lease(batch.batch_id, number, held, now_ms, ttl_ms)
        for number in sorted(held):
            counts = progress.chunks.get(number)
            noted = None if counts is None else counts.revision
            await self._work_chunk(batch, number, held[number], now, blocked, noted)

    async def _lease(
        self, batch_id: UUID, number: int, held: dict[int, _Held], now_ms: int, ttl_ms: int
    ) -> bool:
        if await self._batches.take_lease(batch_id, number, self._settings.owner, now_ms, ttl_ms):
            held.setdefault(number, _Held(0)).expires_ms = now_ms + ttl_ms
            return True
        held.pop(number, None)
        return False

    async def _work_chunk(
        self,
        batch: StoredBatch,
        number: int,
        held: _Held,
        now: datetime,
        blocked: set[str],
        noted: int | None,
    ) -> None:
        """``noted``: the chunk's revision in the progress record."""
        try:
            found = await self._batches.chunk_if_changed(batch.batch_id, number, held.revision)
        except NotFoundError:
            return
        if found is not None:
            held.chunk, held.revision = found.value, found.revision
            if noted is not None and noted < found.revision:  # a replica died before noting it
                await self._batches.note_progress(batch.batch_id, number, found.value, found.revision)
        chunk, revision = held.chunk, held.revision
        assert chunk is not None
        expire: dict[int, str] = {}
        due: list[int] = []
        wanted: Counter[str] = Counter()
        for position, call in enumerate(chunk.calls):
            current = call.current
            if call.status is ScheduledCallStatus.PENDING and current is not None:
                if current.call_id not in held.confirmed:
                    self._start_placing(batch, number, call, held)
                continue
            if call.status is not ScheduledCallStatus.FUTURE:
                continue
            account = _account(call)
            if self._no_room(account, blocked) and batch.window_end is None:
                continue  # its account has no line this pass (and without a window end it cannot expire)
            self.stats.decisions += 1
            decision = decide(call, batch, now)
            if decision.action is Action.EXPIRE:
                expire[position] = decision.reason or "expired"
            elif decision.action is Action.PLACE and not self._no_room(account, blocked):
                if account is not None:
                    if wanted[account] >= self._room.get(account, wanted[account] + 1):
                        continue  # as many as the account has room for are due already
                    wanted[account] += 1
                due.append(position)
        admitted = await self._admit(batch, [chunk.calls[p] for p in due], blocked) if due else {}
        if not expire and not admitted:
            return
        calls = list(chunk.calls)
        for position, reason in expire.items():
            calls[position] = calls[position].model_copy(
                update={"status": ScheduledCallStatus.EXPIRED, "error": reason}
            )
        started: list[ScheduledCall] = []
        for position in due:
            call_id = admitted.get(chunk.calls[position].index)
            if call_id is None:
                continue
            attempt = Attempt(number=len(calls[position].attempts) + 1, call_id=call_id, started=now)
            calls[position] = start_attempt(calls[position], attempt)
            started.append(calls[position])
        new_chunk = BatchChunk(calls=calls)
        try:
            revision = await self._batches.write_chunk(batch.batch_id, number, new_chunk, revision)
        except ConflictError:  # an outcome or another replica changed it: nothing placed, next tick retries
            self.stats.conflicts += 1
            held.revision = -1
            self.wake()
            return
        held.chunk, held.revision = new_chunk, revision
        self.stats.expired += len(expire)
        self.stats.placed += len(started)
        await self._batches.note_progress(batch.batch_id, number, new_chunk, revision)
        for call in started:
            self._start_placing(batch, number, call, held)

    def _no_room(self, account: str | None, blocked: set[str]) -> bool:
        """Whether ``account`` is known to have no line left this pass (None: no line needed)."""
        return account is not None and (account in blocked or self._room.get(account, 1) <= 0)

    async def _admit(
        self, batch: StoredBatch, calls: list[ScheduledCall], blocked: set[str]
    ) -> dict[int, UUID]:
        """A new call id for each call (by index) that its account has room for and the batch's throttle
        lets start now; accounts found full are added to ``blocked``.

        Nothing is taken from the account here: the call factory takes the line when it stores the call
        (and refuses past the cap, atomically across replicas), so a replica dying between deciding and
        placing leaks no line. Room is what the ledger shows free less this replica's placements not yet
        in it; another replica deciding at the same moment may see the same room, and the factory then
        refuses the surplus, which stays PENDING and is placed again when a line frees."""
        admitted: list[tuple[ScheduledCall, UUID]] = []
        for call in calls:
            account = _account(call)
            if account is not None:
                if account in blocked:
                    continue
                if account not in self._room:
                    self._room[account] = await self._room_of(account)
                if self._room[account] <= 0:
                    blocked.add(account)
                    continue
                self._room[account] -= 1
            admitted.append((call, new_call_id()))
        if batch.throttle is not None and admitted:
            try:
                throttle = await self._throttles.resolve(batch.throttle)
            except ThrottleNotFoundError:
                logger.warning(
                    "batch %s: call throttle %r is gone; placing without it", batch.batch_id, batch.throttle
                )
            else:
                allowed = (await self._throttle_usage.take(throttle, len(admitted))).allowed
                for call, _ in admitted[allowed:]:
                    account = _account(call)
                    if account is not None:
                        self._room[account] += 1
                admitted = admitted[:allowed]
        return {call.index: call_id for call, call_id in admitted}

    async def _room_of(self, account: str) -> int:
        """How many more outbound calls the account takes now: its outbound cap (lines less those kept
        for inbound calls), its lines less every call holding one, and its calls per second."""
        limits = await self._limits_of(account)
        ledger = await self._capacity.usage(account)
        room = 1_000_000
        cap = limits.outbound_cap
        if cap is not None:
            room = min(room, cap - len(ledger.outbound))
        if limits.max_concurrent_calls is not None:
            room = min(room, limits.max_concurrent_calls - len(ledger.inbound) - len(ledger.outbound))
        if limits.max_calls_per_second is not None:
            now_ms = int(time.time() * 1000)  # the ledger's clock: start times are shared wall-clock times
            recent = sum(1 for at in ledger.recent_starts if now_ms - at < RATE_WINDOW_MS)
            room = min(room, int(limits.max_calls_per_second) - recent)
        return room - self._unadmitted[account]

    def _start_placing(self, batch: StoredBatch, number: int, call: ScheduledCall, held: _Held) -> None:
        current = call.current
        assert current is not None
        held.confirmed.add(current.call_id)  # one placement task per attempt in this replica
        account = _account(call)
        if account is not None:
            self._unadmitted[account] += 1
        task = asyncio.create_task(self._place(batch, number, call, held), name=f"place-{current.call_id}")
        self._placing.add(task)
        task.add_done_callback(self._placed)

    def _placed(self, task: asyncio.Task[None]) -> None:
        self._placing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("placing %s failed", task.get_name(), exc_info=task.exception())

    async def _place(self, batch: StoredBatch, number: int, call: ScheduledCall, held: _Held) -> None:
        current = call.current
        assert current is not None
        link = attempt_link(batch.batch_id, number, call)
        try:
            await self._place_attempt(batch, call, held, link)
        finally:
            account = _account(call)
            if account is not None:
                self._unadmitted[account] -= 1

    async def _place_attempt(
        self, batch: StoredBatch, call: ScheduledCall, held: _Held, link: AttemptLink
    ) -> None:
        current = call.current
        assert current is not None
        async with self._place_slots:
            try:
                await self._batches.link(current.call_id, link)  # before placing: its end finds the call
                placed = await self._placer.place(Placement(current.call_id, batch, call, current.number))
            except PlacementDeferred:
                held.confirmed.discard(current.call_id)  # no line now: placed again at a later tick
                self.stats.deferred += 1
                return
            except PlacementError as exc:
                await self._recorder.record(link, RetryOutcome.FAILED.value, str(exc)[:300])
                return
            except Exception:
                held.confirmed.discard(current.call_id)  # not placed: the next tick tries again
                raise
            if call.dials:
                return  # its outcome comes with its ended event
            try:
                secret = self._decrypt(batch.sealed_webhook_secret or "")
                payload = {
                    "event": "call.started",
                    "call": placed.call.model_dump(mode="json", by_alias=True),
                }
                await self._webhooks.deliver(batch.webhook_url or "", secret, payload)
            except WebhookFailedError as exc:
                await self._recorder.record(link, WEBHOOK_FAILED, str(exc)[:300])
                return
            await self._recorder.record(link, SUCCESS, None)

    async def _end(self, batch: StoredBatch, now: datetime) -> None:
        def end(current: StoredBatch) -> StoredBatch:
            if current.ended_at is not None:
                raise UnchangedError
            return current.model_copy(update={"ended_at": now})

        try:
            ended = await self._batches.change(batch.batch_id, end)
        except NotFoundError:
            return
        if ended.ended_at == now:
            logger.info("batch %s ended", batch.batch_id)
            await self._recorder.progressed(ended)

    async def drain(self) -> None:
        """Wait for the placements in flight (tests and shutdown)."""
        while self._placing:
            await asyncio.gather(*list(self._placing), return_exceptions=True)


def _log_abandoned_tick(tick: asyncio.Task[None]) -> None:
    if not tick.cancelled() and tick.exception() is not None:
        logger.debug("a tick left behind at shutdown failed: %r", tick.exception())


def _account(call: ScheduledCall) -> str | None:
    """The provider account a call is dialed through; None for a call told to the webhook."""
    return call.medium.provider.value if call.dials and call.medium is not None else None
