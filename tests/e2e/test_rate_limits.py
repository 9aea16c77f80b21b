"""A peer flooding a call with errors or bad frames gets a bounded number of events and log lines."""

from __future__ import annotations

import logging

import pytest

from callbridge.common.events import CallEnded, MediaFramesRejected, ProviderStreamError
from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.telnyx_wire import TelnyxStreamError, TelnyxWire
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import create_call, events_of
from tests.e2e.provider_client import CODECS, provider_client

FLOOD = 200
# The limit per call and kind: a burst of this many, then one per 10 s (far longer than these tests).
BURST = 5


def call_lines(caplog: pytest.LogCaptureFixture, call_id: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level and call_id in r.getMessage()]


async def test_a_flood_of_provider_error_frames_is_rate_limited_in_events_and_logs(
    stack: RunningStack, nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    call = await create_call(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    with caplog.at_level(logging.WARNING, logger="callbridge.media"):
        async with provider_client(call["joinUrl"], Provider.TELNYX) as client:
            assert isinstance(client.wire, TelnyxWire)
            for n in range(FLOOD):
                await client.send(
                    client.wire.error_frame(TelnyxStreamError(100003, "malformed_frame", f"#{n}"))
                )
            await client.assert_echoes()
            await client.stop()
    events = await events_of(nats_url, call["callId"])
    errors = [e for e in events if isinstance(e, ProviderStreamError)]
    assert [e.detail for e in errors] == [f"#{n}" for n in range(BURST)]
    assert all(e.suppressed == 0 for e in errors)
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    assert ended.provider_errors == FLOOD
    warnings = call_lines(caplog, call["callId"], logging.WARNING)
    assert len(warnings) == BURST, warnings


async def test_a_flood_of_malformed_frames_is_rate_limited_in_events_and_logs(
    stack: RunningStack, nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rate = CODECS[Provider.TWILIO].sample_rate_hz
    call = await create_call(stack, {"agentBackend": {"echo": {"sampleRate": rate}}})
    with caplog.at_level(logging.WARNING, logger="callbridge.media"):
        async with provider_client(call["joinUrl"], Provider.TWILIO) as client:
            for n in range(FLOOD):
                await client.send({"event": f"bogus-{n}"})
            await client.assert_echoes()
            await client.stop()
    events = await events_of(nats_url, call["callId"])
    rejected = [e for e in events if isinstance(e, MediaFramesRejected)]
    assert [e.count for e in rejected] == [1] * BURST
    assert "bogus-0" in rejected[0].detail
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.rejected_frames == FLOOD
    assert len(call_lines(caplog, call["callId"], logging.WARNING)) == BURST
