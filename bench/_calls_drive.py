"""Driving the lean client's calls: connect them, start every stream, run the media clocks, wait for the end.

The calls' clocks are spread evenly over one 20 ms period, whatever their provider, so media sees a steady
stream of frames rather than all calls' frames at once; providers are interleaved in that order too.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # see _calls_client.py
    import bench._calls_client as load_client
    import bench._calls_stack as services
    import bench._calls_watch as watching
    from bench._calls_result import CallResult
    from bench._calls_wire import Wire
else:
    import _calls_client as load_client
    import _calls_stack as services
    import _calls_watch as watching
    from _calls_result import CallResult
    from _calls_wire import Wire

CONNECT_CONCURRENCY = 32
CONNECT_TIMEOUT_S = 10.0
ACTIVE_TIMEOUT_S = 10.0
START_MARGIN_S = 0.5  # between the last `start` and the first frame
END_TIMEOUT_S = 15.0  # after the last frame is due: drain, stop and close must be over by then


@dataclass(frozen=True, slots=True)
class PlannedCall:
    join_url: str
    wire: type[Wire]
    payloads: list[bytes]
    """The caller's frames in the wire's format, base64, shared by every call of that provider."""


async def run_lean(
    planned: list[PlannedCall],
    total_frames: int,
    duration_s: float,
    watch: watching.SteadyStateWatch,
    notes: list[str],
) -> list[CallResult]:
    failures: list[CallResult] = []
    calls = await _connect_all(planned, failures)
    try:
        for call in calls:
            call.start_stream()
        if not await _wait_active(watch.http, watch.media_url, len(calls)):
            notes.append(f"media never reported {len(calls)} active calls before the load")
        t0 = time.monotonic() + START_MARGIN_S
        for index, call in enumerate(calls):
            call.start_media(t0 + index * load_client.FRAME_S / len(calls), total_frames)
        await watch.observe(t0)
        await _wait_ended(calls, t0 + duration_s + END_TIMEOUT_S)
    finally:
        for call in calls:
            if not call.ended.done():
                call.abort("benchmark stopped")
    return [call.result for call in calls] + failures


async def _connect_all(planned: list[PlannedCall], failures: list[CallResult]) -> list[load_client.LoadCall]:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(plan: PlannedCall) -> load_client.LoadCall | None:
        wire = plan.wire()
        async with limit:
            try:
                return await load_client.open_call(plan.join_url, wire, plan.payloads, CONNECT_TIMEOUT_S)
            except Exception as exc:  # refused, reset or timed out: counted as a failed call, the rest go on
                failed = CallResult(provider=wire.provider, frame_samples=wire.frame_samples)
                failed.error = f"join failed: {type(exc).__name__}: {exc}"
                failures.append(failed)
                return None

    opened = await asyncio.gather(*(connect(plan) for plan in planned))
    return [call for call in opened if call is not None]


async def _wait_active(http: httpx.AsyncClient, media_url: str, expected: int) -> bool:
    """Until media holds every call (its session running), so that the load starts on all of them at once."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        metrics = await services.scrape_metrics(http, media_url)
        if metrics.get("callbridge_media_active_calls", 0.0) >= expected:
            return True
        await asyncio.sleep(0.1)
    return False


async def _wait_ended(calls: list[load_client.LoadCall], deadline_s: float) -> None:
    pending = [call.ended for call in calls if not call.ended.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, deadline_s - time.monotonic()))
