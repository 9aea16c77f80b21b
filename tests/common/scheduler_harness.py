"""What the scheduler tests share: real NATS stores, a clock the test moves, batches stored as the API stores
them, and a placer standing in for the dialer that counts every placement and has each callee answer
as scripted, by publishing the call's ``ended`` event to the real events stream as media and the dialer
would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from faststream.nats import NatsBroker
from nats.aio.client import Client

from callbridge.common import subjects
from callbridge.common.bus import Stores, connect_broker, create_broker, ensure_jetstream, open_stores
from callbridge.common.capacity import AccountLimits, CapacityLedger
from callbridge.common.ids import new_call_id
from callbridge.common.models.batch import ScheduledBatchCreate, StoredBatch, stored_calls
from callbridge.common.models.call import CallPublic
from callbridge.common.scheduler import (
    CallPlacer,
    OutcomeConsumer,
    OutcomeRecorder,
    PlacedCall,
    Placement,
    PlacementDeferred,
    ProgressPublisher,
    Scheduler,
    SchedulerSettings,
    WebhookPolicy,
    WebhookSender,
)
from callbridge.common.secrets import SecretBox

SECRET_KEY = "scheduler-test-secret-key-0123456789"
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Callee:
    """What the number does when dialed: one end reason per attempt (the last repeats); ``joined``
    reasons connected."""

    answers: list[tuple[str, bool]] = field(default_factory=lambda: [("hangup", True)])
    hold: bool = False
    """Stay on the line until the test ends the call (``end``)."""


class ScriptedPlacer(CallPlacer):
    """Counts placements per call id and per number; ends each dialed call as its callee's script says."""

    def __init__(
        self,
        broker: NatsBroker,
        capacity: CapacityLedger,
        limits: dict[str, AccountLimits],
        callees: dict[str, Callee] | None = None,
    ) -> None:
        self._broker = broker
        self._capacity = capacity
        self._limits = limits
        self.refused = 0
        self.callees = callees or {}
        self.placements: Counter[UUID] = Counter()
        self.dials: Counter[str] = Counter()
        self.attempts_by_number: dict[str, int] = Counter()
        self.live: set[UUID] = set()
        self.max_live = 0
        self.held: dict[UUID, str] = {}
        self.order: list[str] = []
        self.placed_event = asyncio.Event()

    async def place(self, placement: Placement) -> PlacedCall:
        if placement.call.dials and placement.call_id not in self.placements:
            # As the call factory does: the account's line is taken as the call is stored.
            admission = await self._capacity.admit_outbound(
                "twilio", self._limits.get("twilio", AccountLimits()), [placement.call_id]
            )
            if not admission.admitted:
                self.refused += 1
                raise PlacementDeferred(admission.reason or "full")
        self.placements[placement.call_id] += 1
        call = CallPublic(
            call_id=placement.call_id,
            created=datetime.now(UTC),
            join_url=f"wss://media.example.test/calls/{placement.call_id}?token=t",
            metadata=placement.call.metadata or {},
        )
        self.placed_event.set()
        if self.placements[placement.call_id] > 1 or not placement.call.dials:
            return PlacedCall(call)
        outgoing = placement.call.medium.outgoing if placement.call.medium else None
        assert outgoing is not None
        number = outgoing.to
        self.dials[number] += 1
        self.order.append(number)
        attempt = self.attempts_by_number[number]
        self.attempts_by_number[number] += 1
        self.live.add(placement.call_id)
        self.max_live = max(self.max_live, len(self.live))
        callee = self.callees.get(number, Callee())
        if callee.hold:
            self.held[placement.call_id] = number
        else:
            reason, joined = callee.answers[min(attempt, len(callee.answers) - 1)]
            await self.end(placement.call_id, reason, joined)
        return PlacedCall(call)

    async def end(self, call_id: UUID, reason: str = "hangup", joined: bool = True) -> None:
        self.live.discard(call_id)
        self.held.pop(call_id, None)
        await publish_ended(self._broker, call_id, reason, joined)


async def publish_ended(
    broker: NatsBroker, call_id: UUID, reason: str, joined: bool, event_id: UUID | None = None
) -> None:
    event: dict[str, Any] = {
        "eventId": str(event_id or uuid4()),
        "occurredAt": datetime.now(UTC).isoformat(),
        "callId": str(call_id),
        "endReason": reason,
        "durationMs": 1000 if joined else None,
    }
    await broker.publish(
        json.dumps(event).encode(),
        subjects.call_event(call_id, "ended"),
        stream=subjects.EVENTS_STREAM,
        headers={"Nats-Msg-Id": event["eventId"]},
    )


def dialed(number: str, **fields: Any) -> dict[str, Any]:
    return {"medium": {"twilio": {"outgoing": {"to": number, "from": "+15550000000"}}}, **fields}


def numbers(count: int, start: int = 1000) -> list[str]:
    return [f"+1555{start + n:07d}" for n in range(count)]


@dataclass
class Harness:
    stores: Stores
    broker: NatsBroker
    clock: Clock
    placer: ScriptedPlacer
    box: SecretBox
    limits: dict[str, AccountLimits]
    schedulers: list[Scheduler] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def batch(self, agent_id: UUID | None = None, **body: Any) -> StoredBatch:
        """A batch stored as the API stores it."""
        request = ScheduledBatchCreate.model_validate(body)
        batch_id = new_call_id()
        secret = request.webhook_secret or "webhook-secret-0123456789"
        batch = StoredBatch(
            batch_id=batch_id,
            agent_id=agent_id or uuid4(),
            created=self.clock(),
            window_start=request.window_start,
            window_end=request.window_end,
            throttle=request.throttle,
            webhook_url=request.webhook_url,
            sealed_webhook_secret=self.box.encrypt(secret) if request.webhook_url else None,
            paused=request.paused,
            priority=request.priority,
            retry=request.retry,
            calling_hours=request.calling_hours,
            time_zone=request.time_zone,
            auto_pause=request.auto_pause,
        )
        return await self.stores.batches.create(batch, stored_calls(batch_id, request.calls))

    def scheduler(self, owner: str = "replica-1", **settings: Any) -> Scheduler:
        progress = ProgressPublisher(self.broker.connection.jetstream(), self.stores.batches)
        recorder = OutcomeRecorder(self.stores.batches, self.stores.capacity, self.clock, progress.publish)
        webhooks = WebhookSender(
            httpx.AsyncClient(), WebhookPolicy(attempts=3, first_wait_s=0.01, timeout_s=5)
        )

        async def limits_of(account: str) -> AccountLimits:
            return self.limits.get(account, AccountLimits())

        scheduler = Scheduler(
            self.stores.batches,
            self.stores.capacity,
            self.stores.throttles,
            self.stores.throttle_usage,
            limits_of,
            self.placer,
            webhooks,
            self.box.decrypt,
            recorder,
            SchedulerSettings(owner=owner, **settings),
            self.clock,
        )
        consumer = OutcomeConsumer(self.broker.connection.jetstream(), self.stores.batches, recorder)
        self.schedulers.append(scheduler)
        self.tasks.append(asyncio.create_task(consumer.run(), name=f"outcomes-{owner}"))
        return scheduler

    async def settle(self, scheduler: Scheduler, done: Callable[[], Any], timeout_s: float = 10.0) -> None:
        """Tick ``scheduler`` until ``done()`` (awaited if a coroutine) is true."""
        async with asyncio.timeout(timeout_s):
            while True:
                await scheduler.tick()
                await scheduler.drain()
                result = done()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.02)  # let the consumer take the events just published

    async def statuses(self, batch: StoredBatch) -> list[str]:
        found = []
        for number in range(batch.chunk_count):
            chunk = (await self.stores.batches.chunk(batch.batch_id, number)).value
            found += [call.status.value for call in chunk.calls]
        return found

    async def calls(self, batch: StoredBatch) -> list[Any]:
        found = []
        for number in range(batch.chunk_count):
            found += (await self.stores.batches.chunk(batch.batch_id, number)).value.calls
        return found


@contextlib.asynccontextmanager
async def harness(
    nats_url: str, nats_client: Client, callees: dict[str, Callee] | None = None
) -> AsyncIterator[Harness]:
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    stores = await open_stores(broker)
    limits: dict[str, AccountLimits] = {}
    placer = ScriptedPlacer(broker, stores.capacity, limits, callees)
    running = Harness(stores, broker, Clock(), placer, SecretBox(SECRET_KEY), limits)
    try:
        yield running
    finally:
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        for scheduler in running.schedulers:
            await scheduler.drain()
        await broker.stop()
