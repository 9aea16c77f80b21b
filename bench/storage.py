"""Call storage benchmark: the time to store calls, and listing latency at 10⁴ and 10⁶ stored calls.

    python -m bench.storage                 # 10,000 and 1,000,000 calls (about 10 minutes)
    python -m bench.storage --sizes 10000   # quick

Calls go through the write path the services use (the record in the calls bucket, then the index chains and
the live bucket); most are then ended the way media ends them, leaving ``--live`` calls in progress. Then,
for each listing (all calls, one agent's, one end reason's, every ended call, live calls), the first page and
the hundredth (after following 99 cursors) are read ``--repeat`` times, and their median and worst latency
printed. O(page) listing means the figures at 10⁶ stay close to those at 10⁴.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import nats
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.call_index import CallIndex
from callbridge.common.call_listing import CallListing, CallQuery, CallStatus
from callbridge.common.ids import new_call_id
from callbridge.common.live_calls import LiveCalls, ensure_live_calls_stream
from callbridge.common.models.call import Call, EndReason
from callbridge.common.store import KvStore
from callbridge.devkit.nats_server import NatsServer

PAGE_SIZE = 100
AGENTS = [uuid.UUID(int=7_000 + n) for n in range(10)]
REASONS = [EndReason.HANGUP, EndReason.AGENT_HANGUP, EndReason.CONNECTION_ERROR, EndReason.UNJOINED]
CONCURRENCY = 256


@dataclass
class Figures:
    size: int
    store_s: float
    end_s: float
    latencies_ms: dict[str, tuple[list[float], list[float]]]


def call_record(n: int, start: datetime) -> Call:
    """A realistic record: an agent call with a prompt, a medium and provider details."""
    return Call.model_validate(
        {
            "callId": new_call_id(),
            "agentId": AGENTS[n % len(AGENTS)],
            "created": start + timedelta(milliseconds=n * 3),
            "joinUrl": f"wss://media.example.com/calls/x/telephony/{n}",
            "systemPrompt": "You are the support agent of Example Corp. Help the caller with their order. "
            * 3,
            "medium": {"twilio": {}},
            "templateContext": {"user": {"phone_number": "+15551230000", "name": "Ada"}},
            "providerDetails": {"provider": "twilio", "callId": f"CA{n:032x}", "from": "+15551230000"},
        }
    )


async def open_listing(client: Client) -> tuple[KvStore[Call], CallListing]:
    js = client.jetstream()
    records = KvStore(await js.create_key_value(bucket=buckets.CALLS, history=1), Call)
    index = CallIndex(await js.create_key_value(bucket=buckets.CALL_INDEX, history=1))
    await ensure_live_calls_stream(js)
    live = LiveCalls(js)
    return records, CallListing(records, index, live)


async def store_calls(
    records: KvStore[Call], listing: CallListing, size: int, live: int
) -> tuple[float, float]:
    """Create ``size`` calls, then end all but ``live`` of them, ``CONCURRENCY`` at a time (workers pull
    numbers, so memory stays flat at any size); the seconds each phase took."""
    start = datetime.now(UTC) - timedelta(milliseconds=size * 3)
    ids: list[UUID] = [UUID(int=0)] * size  # what ending needs: the records are read back from KV

    async def create(n: int) -> None:
        call = call_record(n, start)
        ids[n] = call.call_id
        await records.create(str(call.call_id), call)
        await listing.created(call)

    async def end(n: int) -> None:
        call = (await records.get(str(ids[n]))).value
        ended = call.created + timedelta(seconds=40)
        final = call.model_copy(update={"ended": ended, "end_reason": REASONS[n % len(REASONS)]})
        await records.put(str(call.call_id), final)
        await listing.ended(final)

    return await run_all(create, size), await run_all(end, size - live)


async def run_all(job: Callable[[int], Awaitable[None]], count: int) -> float:
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await job(n)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began


async def page_latencies(
    listing: CallListing, query: CallQuery, repeat: int
) -> tuple[list[float], list[float]]:
    first: list[float] = []
    hundredth: list[float] = []
    for _ in range(repeat):
        began = time.perf_counter()
        page = await listing.page(query, None, PAGE_SIZE)
        first.append((time.perf_counter() - began) * 1000)
        cursor = page.next_cursor
        for _ in range(98):
            if cursor is None:
                break
            cursor = (await listing.page(query, cursor, PAGE_SIZE)).next_cursor
        if cursor is None:
            continue
        began = time.perf_counter()
        await listing.page(query, cursor, PAGE_SIZE)
        hundredth.append((time.perf_counter() - began) * 1000)
    return first, hundredth


QUERIES = {
    "all calls": CallQuery(),
    "one agent": CallQuery(agent_id=AGENTS[3]),
    "endReason=hangup": CallQuery(end_reason=EndReason.HANGUP),
    "ended, one agent": CallQuery(agent_id=AGENTS[5], status=CallStatus.ENDED),
    "live": CallQuery(status=CallStatus.LIVE),
}


async def measure(size: int, live: int, repeat: int) -> Figures:
    with NatsServer() as server:
        client = await nats.connect(server.url, connect_timeout=5)
        try:
            records, listing = await open_listing(client)
            stored_s, ended_s = await store_calls(records, listing, size, live)
            latencies = {
                name: await page_latencies(listing, query, repeat) for name, query in QUERIES.items()
            }
        finally:
            await client.close()
    return Figures(size, stored_s, ended_s, latencies)


def describe(samples: list[float]) -> str:
    if not samples:
        return "         (fewer pages)"
    return f"{statistics.median(samples):7.2f} / {max(samples):7.2f}"


def report(figures: Figures, live: int) -> None:
    size = figures.size
    print(f"\n{size:,} calls ({size - live:,} ended, {live} live), pages of {PAGE_SIZE}")
    store_rate, end_rate = size / figures.store_s, (size - live) / figures.end_s
    print(f"  store       {figures.store_s:8.1f} s   ({store_rate:,.0f} calls/s: record + index + live)")
    print(f"  end         {figures.end_s:8.1f} s   ({end_rate:,.0f} calls/s: record + index)")
    print(f"  {'listing':<20} {'first page ms (median / max)':>30} {'100th page ms (median / max)':>30}")
    for name, (first, hundredth) in figures.latencies_ms.items():
        print(f"  {name:<20} {describe(first):>30} {describe(hundredth):>30}")


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated numbers of stored calls")
    parser.add_argument("--live", type=int, default=500, help="calls left in progress (default 500)")
    parser.add_argument("--repeat", type=int, default=5, help="listings timed per figure (default 5)")
    args = parser.parse_args()
    print("callbridge call storage benchmark: real nats-server (JetStream file storage), one client process")
    for size in (int(text) for text in args.sizes.split(",")):
        report(await measure(size, min(args.live, size), args.repeat), min(args.live, size))


if __name__ == "__main__":
    asyncio.run(main())
