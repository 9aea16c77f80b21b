"""Agent audio cut into provider frames: padding only when the caller would otherwise hear a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np
import orjson
import pytest

from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.audio.resampler import create_resampler
from callbridge.media.playout import Playout
from tests.media.helpers import FakeClock, started_twilio

RATE_HZ = 8000
FRAME_SAMPLES = 160  # 20 ms


class Call:
    """A framer on a Twilio playout, on a fake clock, with what reached the provider."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.media: list[bytes] = []
        self.tasks: list[asyncio.Task[None]] = []

        async def send(message: str) -> bool:
            parsed = orjson.loads(message)
            if parsed["event"] == "media":
                self.media.append(parsed["media"]["payload"].encode())
            return True

        self.playout = Playout(started_twilio(), send, lead_ms=100, clock=clock)
        self.framer = AgentAudioFramer(
            self.playout,
            create_resampler(RATE_HZ, RATE_HZ),
            agent_rate_hz=RATE_HZ,
            spawn=self.spawn,
        )

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(coroutine, name=name))


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    call = Call(FakeClock())
    call.playout.start("pacer")
    yield call
    await call.playout.close()


def audio(ms: float) -> bytes:
    return np.full(round(RATE_HZ * ms / 1000), 1000, dtype="<i2").tobytes()


async def test_whole_frames_go_out_at_once_and_a_part_waits(call: Call) -> None:
    await call.framer.push(audio(50))
    assert len(call.media) == 2  # 40 ms sent, 10 ms waiting for the rest of its frame
    await call.framer.push(audio(10))
    assert len(call.media) == 3
    assert call.framer.frames_padded == 0


async def test_an_agent_ahead_of_the_playout_never_gets_padding(call: Call) -> None:
    await call.framer.push(audio(300))  # a first chunk ahead, then 37 ms every 37 ms: never a whole frame
    for _ in range(50):
        await call.clock.advance(0.037)
        await call.framer.push(audio(37))
    assert call.framer.frames_padded == 0
    await call.clock.advance(1.0)  # the agent stopped: its last 10 ms go out padded, once
    await asyncio.gather(*call.tasks)
    assert call.framer.frames_padded == 1
    assert len(call.media) == (300 + 50 * 37) // 20 + 1


async def test_the_part_left_when_the_agent_stops_is_padded_a_frame_after_the_caller_runs_out(
    call: Call,
) -> None:
    await call.framer.push(audio(130))  # 6 frames (120 ms) play until +120 ms; 10 ms wait
    await call.clock.advance(0.120 + 0.010)  # the caller just ran out; padding would add 10 ms: wait
    assert call.framer.frames_padded == 0
    await call.clock.advance(0.011)  # ran out 11 ms ago, longer than the 10 ms padding: send it
    await asyncio.gather(*call.tasks)
    assert call.framer.frames_padded == 1
    assert len(call.media) == 7


async def test_a_late_chunk_completes_the_frame_instead_of_padding(call: Call) -> None:
    await call.framer.push(audio(130))
    await call.clock.advance(0.125)  # 5 ms of the caller's silence: less than padding would insert
    await call.framer.push(audio(10))
    await call.clock.advance(1.0)
    assert call.framer.frames_padded == 0
    assert len(call.media) == 7


async def test_barge_in_drops_the_part_and_its_timer(call: Call) -> None:
    await call.framer.push(audio(30))
    call.framer.clear()
    await call.clock.advance(1.0)
    assert call.framer.frames_padded == 0
    assert len(call.media) == 1
