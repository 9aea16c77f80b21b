"""Driving the calls: connect them, start every stream, run the media clocks, wait for the end.

The lean client (``run_lean``, client.py) spreads the calls' clocks evenly over one 20 ms period, whatever
their provider, so media sees a steady stream of frames rather than all calls' frames at once; providers
are interleaved in that order too. ``run_simulator`` (``--client simulator``) runs each call through the
devkit's TwilioSimulator instead, to compare the two clients: two tasks per call on a ``websockets``
connection, lean settings (no heard-audio track, no per-message log). The join URL is used as the
`<Stream url>` directly: the media service authenticates by the token in it, so no TwiML round trip is
needed.
"""

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench.calls import client as load_client
from bench.calls import stack as services
from bench.calls import watch as watching
from bench.calls.providers import FRAME_MS, BenchProvider
from bench.calls.result import CallResult
from callbridge.devkit.simulators.caller_audio import CallerAudio
from callbridge.devkit.simulators.twilio import TwilioSimulator, new_sid
from callbridge.devkit.simulators.twiml import TwiMLAnswer

CONNECT_CONCURRENCY = 32
CONNECT_TIMEOUT_S = 10.0
ACTIVE_TIMEOUT_S = 10.0
START_MARGIN_S = 0.5  # between the last `start` and the first frame
END_TIMEOUT_S = 15.0  # after the last frame is due: drain, stop and close must be over by then
SIMULATOR_START_MARGIN_S = 2.0
# The simulator signs the upgrade with an auth token and account; the media service does not check it.
_AUTH_TOKEN = "bench-calls-auth-token"  # noqa: S105 - a throwaway local stack's


@dataclass(frozen=True, slots=True)
class PlannedCall:
    join_url: str
    provider: BenchProvider
    payloads: list[bytes]
    """The caller's frames in the provider's format, base64, shared by every call of that provider."""


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
        provider = plan.provider
        async with limit:
            try:
                return await load_client.open_call(plan.join_url, provider, plan.payloads, CONNECT_TIMEOUT_S)
            except Exception as exc:  # refused, reset or timed out: counted as a failed call, the rest go on
                failed = CallResult(provider=provider.name, frame_samples=provider.frame_samples)
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


async def run_simulator(
    join_urls: list[str],
    audio: CallerAudio,
    duration_s: float,
    watch: watching.SteadyStateWatch,
    notes: list[str],
) -> list[CallResult]:
    # Each simulated call connects just before its first frame.
    t0 = time.monotonic() + SIMULATOR_START_MARGIN_S
    async with asyncio.timeout(duration_s + SIMULATOR_START_MARGIN_S + END_TIMEOUT_S):
        tasks = [
            asyncio.create_task(
                _simulated_call(url, audio, t0 + index * FRAME_MS / 1000 / len(join_urls), duration_s),
                name=f"simulated-call-{index}",
            )
            for index, url in enumerate(join_urls)
        ]
        await watch.observe(t0)
        results = list(await asyncio.gather(*tasks))
    notes.append("the simulator keeps only each call's largest send lateness: the p50/p99 are of those")
    return results


async def _simulated_call(
    join_url: str, audio: CallerAudio, start_at_s: float, duration_s: float
) -> CallResult:
    """One call through the devkit simulator whose first frame is due at ``start_at_s`` (monotonic)."""
    simulator = TwilioSimulator("http://127.0.0.1/unused", _AUTH_TOKEN, new_sid("AC"), allow_insecure_ws=True)
    answer = TwiMLAnswer(
        call_sid=new_sid("CA"),
        stream_url=join_url,
        parameters={},
        hangup_follows=True,
        verbs_after_connect=("Hangup",),
        twiml="",
    )
    await asyncio.sleep(max(0.0, start_at_s - time.monotonic()))
    result = CallResult()
    try:
        recording = await simulator.stream(
            answer, audio, hang_up_after_s=duration_s, record_heard=False, record_media_messages=False
        )
    except Exception as exc:  # a failed call is counted in the report, the others go on
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.frames_sent = recording.frames_sent
    result.sent_at_s = recording.inbound_sent_at_s
    result.echo_at_s = recording.outbound_media_at_s
    result.echo_samples = recording.outbound_media_bytes  # μ-law: a byte per sample
    result.send_lateness_s = [recording.max_send_lateness_s]  # the simulator keeps only the largest
    result.marks_received = len(recording.marks)
    result.marks_echoed = sum(1 for mark in recording.marks if mark.echoed_at_s is not None)
    result.violations = len(recording.violations)
    result.first_violation = recording.violations[0].reason if recording.violations else None
    result.ended_by = recording.ended_by
    result.close_code = recording.close_code
    return result
