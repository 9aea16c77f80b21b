"""Pacing, marks and barge-in of the playout, on a fake clock with the real Twilio wire format."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from callbridge.media.playout import Playout
from tests.media.helpers import TWILIO_START, FakeClock, started_twilio

FRAME = np.zeros(160, dtype=np.int16)


@pytest.fixture
def sent() -> list[dict[str, object]]:
    return []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def playout(sent: list[dict[str, object]], clock: FakeClock) -> Playout:
    stream = started_twilio()

    async def send(message: str) -> bool:
        sent.append(orjson.loads(message))
        return True

    return Playout(stream, send, lead_ms=100, clock=clock)


def media_count(sent: list[dict[str, object]]) -> int:
    return sum(1 for m in sent if m["event"] == "media")


async def test_each_frame_is_followed_by_a_mark(playout: Playout, sent: list[dict[str, object]]) -> None:
    await playout.play(FRAME)
    assert [m["event"] for m in sent] == ["media", "mark"]
    assert sent[1]["mark"] == {"name": "0.1"}


async def test_frames_beyond_the_lead_wait_for_real_time(
    playout: Playout, sent: list[dict[str, object]], clock: FakeClock
) -> None:
    for _ in range(20):  # 400 ms of audio at once
        await playout.play(FRAME)
    # 100 ms lead: frames at 0, 20, .., 100 ms of playout clock go at once (ahead <= 100 ms).
    assert media_count(sent) == 6
    assert playout.queued_frames == 14
    assert playout.ahead_s == pytest.approx(0.12)


async def test_pacer_releases_queued_frames_as_time_passes(
    playout: Playout, sent: list[dict[str, object]], clock: FakeClock
) -> None:
    playout.start("pacer")
    try:
        for _ in range(15):  # 300 ms
            await playout.play(FRAME)
        assert media_count(sent) == 6
        # Each 20 ms of the clock lets one more frame within the 100 ms lead.
        await clock.advance(0.020)
        assert media_count(sent) == 7
        await clock.advance(0.100)
        assert media_count(sent) == 12
        await clock.advance(1.0)
        assert media_count(sent) == 15
        assert playout.queued_frames == 0
    finally:
        await playout.close()


async def test_pacing_runs_on_the_event_loops_clock(sent: list[dict[str, object]]) -> None:
    """Without a clock given, the playout reads and sleeps on the loop's clock: frames beyond the lead
    leave as the loop's time passes, never all at once and never stuck, whatever the machine's uptime."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    async def send(message: str) -> bool:
        sent.append(orjson.loads(message))
        if media_count(sent) == 15:
            done.set()
        return True

    playout = Playout(started_twilio(), send, lead_ms=100)
    assert playout.clock.now() == pytest.approx(loop.time(), abs=0.01)
    playout.start("pacer")
    try:
        began = loop.time()
        for _ in range(15):  # 300 ms; 120 ms of it leaves at once
            await playout.play(FRAME)
        await asyncio.wait_for(done.wait(), timeout=5.0)
        # The last of the 9 queued frames leaves when 160 ms of the first 280 ms have played.
        assert loop.time() - began >= 0.150
    finally:
        await playout.close()


async def test_marks_acknowledge_played_audio_and_drain(playout: Playout) -> None:
    for _ in range(3):
        await playout.play(FRAME)
    assert playout.on_mark("0.1")
    assert playout.on_mark("0.2")
    assert not await playout.wait_drained(0.01)
    assert playout.on_mark("0.3")
    assert await playout.wait_drained(0.01)
    assert not playout.on_mark("9.9")  # unknown marks are counted, not trusted
    assert playout.marks_unknown == 1


async def test_clear_drops_queued_frames_and_flags_pending_marks(
    playout: Playout, sent: list[dict[str, object]], clock: FakeClock
) -> None:
    for _ in range(20):
        await playout.play(FRAME)
    assert playout.on_mark("0.1")
    assert playout.on_mark("0.2")
    await clock.advance(0.05)  # 50 ms later: by the clock, 50 ms of the 120 ms sent has played
    truncation = await playout.clear()
    assert sent[-1] == {"event": "clear", "streamSid": TWILIO_START["streamSid"]}
    assert truncation.turn == 0
    assert truncation.sent_ms == 120
    assert truncation.acknowledged_ms == 40
    assert truncation.heard_ms == 50
    assert truncation.dropped_frames == 14
    assert playout.queued_frames == 0
    assert playout.turn == 1
    # Twilio echoes the pending marks after a clear: they are not "played".
    assert not any(playout.on_mark(f"0.{n}") for n in range(3, 7))
    assert await playout.wait_drained(0.01)
    # The next turn starts at once: the provider's buffer is empty.
    await playout.play(FRAME)
    assert sent[-1]["mark"] == {"name": "1.7"}  # turn 1, seventh frame sent on this stream


async def test_clear_is_sent_even_with_nothing_queued(
    playout: Playout, sent: list[dict[str, object]]
) -> None:
    truncation = await playout.clear()
    assert [m["event"] for m in sent] == ["clear"]
    assert truncation.sent_ms == truncation.heard_ms == 0


async def test_confirmed_clear_resolves_pending_marks_as_not_played(playout: Playout) -> None:
    for _ in range(3):
        await playout.play(FRAME)
    await playout.clear()
    assert not await playout.wait_drained(0.01)  # three marks pending, flagged cleared
    playout.on_cleared()  # Plivo's clearedAudio: those marks will never be acknowledged
    assert await playout.wait_drained(0.01)
    assert not playout.on_mark("0.1")
