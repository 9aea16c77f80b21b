"""Scheduler benchmark: a 100,000-call batch at a concurrency cap.

    python -m bench.batch                          # 100,000 calls, cap 500, callees hang up after 0.2 s
    python -m bench.batch --calls 20000 --cap 200  # quicker

The batch is created through the real webhooks API (timed: the time to accept it), against a real
nats-server. One dialer process runs the scheduler (callbridge.common.scheduler, as services/dialer runs
it) with a placer that does what the dialer's call factory does with capacity (takes the call's line in the
account's ledger, atomically, refused past the cap) and then hands the call to a stand-in provider in this
process, whose callee answers and hangs up after ``--hold`` seconds: its ``ended`` event goes to the events
stream as media would publish it, and the scheduler learns the outcome from there. No media flows: the
figures are the scheduler's. The full dial path (call records, dial queue, simulated provider, media) is
covered by tests/e2e/test_batches.py and test_batch_failover.py.

Printed: the time to accept the batch (target < 10 s); dispatch decisions per second on the one dialer (the
calls it decided, over the CPU time of its scheduling passes, target >= 1,000/s) and calls placed per second
of wall time; the highest concurrency seen, by the dialer and by sampling the account's ledger (never above
the cap); how long a freed line stays empty before the next call takes it (p50/p99, target p99 < 1 s); and
the dialer's CPU time per dispatched call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from faststream.nats import NatsBroker
from nats.errors import Error as NatsError
from pydantic import SecretStr

from callbridge.common import subjects
from callbridge.common.bus import Stores, connect_broker, create_broker, ensure_jetstream, open_stores
from callbridge.common.capacity import AccountLimits, CapacityLedger
from callbridge.common.models.call import CallPublic
from callbridge.common.scheduler import (
    OutcomeConsumer,
    OutcomeRecorder,
    PlacedCall,
    Placement,
    PlacementDeferred,
    ProgressPublisher,
    Scheduler,
    SchedulerSettings,
    WebhookSender,
)
from callbridge.common.secrets import SecretBox
from callbridge.devkit.asgi import bind_listener, serve_asgi
from callbridge.devkit.nats_server import NatsServer
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app

API_KEY = "bench-api-key-0123456789"
SECRET_KEY = "bench-secret-key-0123456789-0123456789"  # noqa: S105 - a throwaway key for the bench's own stack
DIAL_SUBJECT = "bench.dial"
ACCOUNT = "twilio"
PUBLISH_TRIES = 5
TWILIO = {"accountSid": "AC" + "b" * 32, "authToken": "bench-twilio-auth-token"}


# -- the dialer process ----------------------------------------------------------------------------------


class TimedLedger(CapacityLedger):
    """The account ledger, noting when lines are taken and freed (monotonic seconds) for the figures."""

    def __init__(self, inner: CapacityLedger) -> None:
        self.__dict__.update(inner.__dict__)
        self.live = 0
        self.max_live = 0
        self.freed: deque[float] = deque()
        self.gaps_s: list[float] = []

    def taken(self, count: int) -> None:
        now = time.monotonic()
        for _ in range(count):
            if self.freed:
                self.gaps_s.append(now - self.freed.popleft())
        self.live += count
        self.max_live = max(self.max_live, self.live)

    async def release(self, account: str, call_ids: Iterable[UUID]) -> None:
        ids = list(call_ids)
        await super().release(account, ids)
        self.live -= len(ids)
        now = time.monotonic()
        self.freed.extend(now for _ in ids)


class BenchPlacer:
    """Takes the call's line as the call factory does, then tells the stand-in provider to dial."""

    def __init__(self, ledger: TimedLedger, limits: AccountLimits, broker: NatsBroker) -> None:
        self._ledger = ledger
        self._limits = limits
        self._broker = broker
        self.placed: set[UUID] = set()

    async def place(self, placement: Placement) -> PlacedCall:
        if placement.call_id not in self.placed:
            admission = await self._ledger.admit_outbound(ACCOUNT, self._limits, [placement.call_id])
            if not admission.admitted:
                raise PlacementDeferred(admission.reason or "full")
            self._ledger.taken(1)
            self.placed.add(placement.call_id)
            await self._broker.publish(placement.call_id.hex.encode(), DIAL_SUBJECT)
        return PlacedCall(CallPublic(call_id=placement.call_id, created=datetime.now(UTC)))


async def run_dialer(nats_url: str, cap: int) -> None:
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    stores = await open_stores(broker)
    ledger = TimedLedger(stores.capacity)
    limits = AccountLimits(max_concurrent_calls=cap)
    placer = BenchPlacer(ledger, limits, broker)
    progress = ProgressPublisher(connection.jetstream(), stores.batches)
    recorder = OutcomeRecorder(stores.batches, ledger, lambda: datetime.now(UTC), progress.publish)

    async def limits_of(account: str) -> AccountLimits:
        return limits

    async with httpx.AsyncClient() as client:
        scheduler = Scheduler(
            stores.batches,
            ledger,
            stores.throttles,
            stores.throttle_usage,
            limits_of,
            placer,
            WebhookSender(client),
            SecretBox(SECRET_KEY).decrypt,
            recorder,
            SchedulerSettings(owner=f"bench-{os.getpid()}", max_chunks_per_batch=8, place_concurrency=cap),
            lambda: datetime.now(UTC),
        )
        consumer = OutcomeConsumer(connection.jetstream(), stores.batches, recorder)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        tasks = [asyncio.create_task(scheduler.run(), name="scheduler")]
        tasks.append(asyncio.create_task(consumer.run(), name="outcomes"))
        cpu_start = _cpu_s()
        started = time.monotonic()
        print("ready", flush=True)
        await stop.wait()
        wall_s = time.monotonic() - started
        cpu_s = _cpu_s() - cpu_start
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    stats = scheduler.stats
    figures = {
        "decisions": stats.decisions,
        "placed": stats.placed,
        "deferred": stats.deferred,
        "decide_s": stats.decide_seconds,
        "ticks": stats.ticks,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "max_live": ledger.max_live,
        "gaps_s": ledger.gaps_s,
    }
    print("figures " + json.dumps(figures), flush=True)
    await broker.stop()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the driver: API, stand-in provider, watcher ----------------------------------------------------------


@contextlib.asynccontextmanager
async def webhooks(nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    listener = bind_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    settings = WebhooksSettings(
        nats_url=nats_url,
        api_key=SecretStr(API_KEY),
        secret_key=SecretStr(SECRET_KEY),
        port=port,
        log_level="WARNING",
    )
    async with (
        serve_asgi(create_app(settings), "127.0.0.1", port, listener=listener) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=120) as api,
    ):
        yield api


async def stand_in_provider(broker: NatsBroker, hold_s: float, counts: dict[str, int]) -> Any:
    """Answers every dial and hangs up after ``hold_s``: the call's ``ended`` event, as media publishes it."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def end(call_id: UUID) -> None:
        event: dict[str, Any] = {
            "eventId": str(uuid4()),
            "occurredAt": datetime.now(UTC).isoformat(),
            "callId": str(call_id),
            "endReason": "hangup",
            "durationMs": int(hold_s * 1000),
        }
        for _ in range(PUBLISH_TRIES):  # a loaded machine can time a publish out: the event must go out
            try:
                await broker.publish(
                    json.dumps(event).encode(),
                    subjects.call_event(call_id, "ended"),
                    stream=subjects.EVENTS_STREAM,
                    headers={"Nats-Msg-Id": event["eventId"]},  # a retry is de-duplicated by the stream
                    timeout=30.0,
                )
                return
            except NatsError:
                continue
        print(f"could not publish the end of {call_id}", file=sys.stderr)

    def hang_up(call_id: UUID) -> None:
        task = loop.create_task(end(call_id), name=f"hang-up-{call_id}")
        pending.add(task)
        task.add_done_callback(pending.discard)

    connection = broker.connection

    async def on_dial(message: Any) -> None:
        call_id = UUID(hex=message.data.decode())
        counts[call_id.hex] = counts.get(call_id.hex, 0) + 1
        loop.call_later(hold_s, hang_up, call_id)

    return await connection.subscribe(DIAL_SUBJECT, cb=on_dial)


async def watch_ledger(stores: Stores, stop: asyncio.Event, seen: list[int]) -> None:
    while not stop.is_set():
        ledger = await stores.capacity.usage(ACCOUNT)
        seen.append(len(ledger.outbound))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)  # the sampling period


async def drive(calls: int, cap: int, hold_s: float) -> None:
    with NatsServer() as server:
        nats_url = server.url
        broker = create_broker(nats_url)
        connection = await connect_broker(broker, nats_url)
        await ensure_jetstream(connection)
        stores = await open_stores(broker)
        async with webhooks(nats_url) as api:
            agent = await api.post("/api/agents", json={"name": "bench", "callTemplate": {}})
            agent_id = agent.json()["agentId"]
            imported = await api.post(
                "/api/telephony_configs/twilio", json={**TWILIO, "maxConcurrentCalls": cap}
            )
            imported.raise_for_status()
            body = {
                "paused": True,
                "calls": [
                    {
                        "medium": {"twilio": {"outgoing": {"to": f"+1555{n:07d}", "from": "+15550000000"}}},
                        "templateContext": {"customer": f"customer {n}"},
                        "metadata": {"row": str(n)},
                    }
                    for n in range(calls)
                ],
            }
            content = json.dumps(body).encode()
            started = time.perf_counter()
            created = await api.post(
                f"/api/agents/{agent_id}/scheduled_batches",
                content=content,
                headers={"content-type": "application/json"},
            )
            accept_s = time.perf_counter() - started
            if created.status_code != 201:
                raise SystemExit(f"batch refused: {created.status_code} {created.text[:300]}")
            batch_id = created.json()["batchId"]
            print(f"batch of {calls} calls ({len(content) / 1e6:.1f} MB) accepted in {accept_s:.2f} s")

            counts: dict[str, int] = {}
            subscription = await stand_in_provider(broker, hold_s, counts)
            dialer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.batch",
                "--role",
                "dialer",
                "--nats",
                nats_url,
                "--cap",
                str(cap),
                stdout=asyncio.subprocess.PIPE,
            )
            assert dialer.stdout is not None
            await dialer.stdout.readline()  # "ready"
            stop = asyncio.Event()
            seen: list[int] = []
            watcher = asyncio.create_task(watch_ledger(stores, stop, seen), name="ledger-watch")
            path = f"/api/agents/{agent_id}/scheduled_batches/{batch_id}"
            progress = await connection.subscribe(subjects.batch_event(batch_id, "progress"))
            run_started = time.perf_counter()
            await api.patch(path, json={"paused": False})
            async for message in progress.messages:  # the batch's progress events, until it ends
                if json.loads(message.data).get("endedAt"):
                    break
            run_s = time.perf_counter() - run_started
            await progress.unsubscribe()
            batch = (await api.get(path)).json()
            stop.set()
            await watcher
            dialer.send_signal(signal.SIGTERM)
            output = (await dialer.stdout.read()).decode()
            await dialer.wait()
            await subscription.unsubscribe()
        figures = json.loads(output.split("figures ", 1)[1])
        await broker.stop()
    report(calls, cap, hold_s, accept_s, run_s, batch, counts, seen, figures)


def report(
    calls: int,
    cap: int,
    hold_s: float,
    accept_s: float,
    run_s: float,
    batch: dict[str, Any],
    counts: dict[str, int],
    seen: list[int],
    figures: dict[str, Any],
) -> None:
    gaps = sorted(figures["gaps_s"])

    def quantile(q: float) -> float:
        return gaps[min(len(gaps) - 1, int(q * len(gaps)))] if gaps else float("nan")

    decisions_per_s = figures["decisions"] / figures["decide_s"] if figures["decide_s"] else float("nan")
    duplicates = sum(1 for count in counts.values() if count > 1)
    print(f"batch run: {run_s:.1f} s for {calls} calls at cap {cap}, callees hold {hold_s:g} s")
    print(f"  status counts: {batch['statusCounts']}")
    dials = sum(counts.values())
    print(f"  dials at the provider: {dials} for {len(counts)} numbers, {duplicates} dialed twice")
    print(f"accept time: {accept_s:.2f} s (target < 10 s)")
    print(
        f"dispatch decisions: {figures['decisions']} in {figures['decide_s']:.1f} s of scheduling passes = "
        f"{decisions_per_s:,.0f}/s (target >= 1,000/s); placed {figures['placed']} calls = "
        f"{figures['placed'] / run_s:,.0f} calls/s of wall time "
        f"({figures['deferred']} deferred for want of a line)"
    )
    highest = max(figures["max_live"], max(seen, default=0))
    verdict = "never exceeded" if highest <= cap else "EXCEEDED"
    print(
        f"highest concurrency: {figures['max_live']} by the dialer, {max(seen, default=0)} sampled in the "
        f"ledger; cap {cap}: {verdict}"
    )
    print(
        f"freed line empty for: p50 {quantile(0.5) * 1000:.0f} ms, p99 {quantile(0.99) * 1000:.0f} ms, "
        f"max {gaps[-1] * 1000 if gaps else float('nan'):.0f} ms over {len(gaps)} refills "
        "(target p99 < 1 s)"
    )
    per_call_ms = figures["cpu_s"] / max(1, figures["placed"]) * 1000
    print(
        f"dialer CPU: {figures['cpu_s']:.1f} s = {per_call_ms:.2f} ms per dispatched call "
        "(scheduler, outcome consumer and their NATS traffic)"
    )
    print(f"  median ledger sample {statistics.median(seen) if seen else 0:.0f} lines in use")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--cap", type=int, default=500, help="the account's maxConcurrentCalls")
    parser.add_argument("--hold", type=float, default=0.2, help="seconds each callee stays on the line")
    parser.add_argument("--role", choices=["driver", "dialer"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "dialer":
        asyncio.run(run_dialer(args.nats, args.cap))
    else:
        asyncio.run(drive(args.calls, args.cap, args.hold))


if __name__ == "__main__":
    main()
