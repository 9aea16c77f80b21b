"""Media's /metrics move with a real call: active calls by provider while it runs, frames in and out, the
time to the first agent audio and the marks' round trips once it ends."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import twilio_for

RATE_HZ = 8000


async def scrape(stack: RunningStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = stack.media_url.replace("ws://", "http://") + "/metrics"
    async with httpx.AsyncClient() as client:
        text = (await client.get(url)).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_call_moves_the_media_metrics(stack: RunningStack) -> None:
    before = await scrape(stack)
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    answer = await simulator.incoming_call(from_number="+15005550006", to_number="+15005550001")
    streaming = asyncio.create_task(simulator.stream(answer, tone(1000.0, 2.0, RATE_HZ, -10.0), tail_s=0.5))
    during = await scrape(stack)
    async with asyncio.timeout(10):
        while value(during, "callbridge_media_active_calls", provider="twilio") < 1:
            await asyncio.sleep(0.05)  # the stream joins a moment after the answer
            during = await scrape(stack)
    recording = await streaming
    ended_before = value(before, "callbridge_media_calls_ended_total", end_reason="hangup")
    async with asyncio.timeout(
        10
    ):  # the call's figures are added when media has ended it; poll as Prometheus
        after = await scrape(stack)
        while value(after, "callbridge_media_calls_ended_total", end_reason="hangup") <= ended_before:
            await asyncio.sleep(0.05)
            after = await scrape(stack)

    def grew(name: str) -> float:
        return value(after, name, provider="twilio") - value(before, name, provider="twilio")

    assert value(after, "callbridge_media_active_calls", provider="twilio") == 0
    sent = len([r for r in recording.received if r.event == "media"])
    assert grew("callbridge_media_frames_in_total") == 125  # 2 s of tone and 0.5 s of tail, 20 ms frames
    assert grew("callbridge_media_frames_out_total") == sent
    assert grew("callbridge_media_first_agent_audio_seconds_count") == 1
    assert 0 < grew("callbridge_media_first_agent_audio_seconds_sum") < 2.0
    assert grew("callbridge_media_mark_round_trip_seconds_count") >= 5
