"""Helpers the media unit tests share (fixtures live in conftest.py; tests never import each other)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import orjson

from callbridge.common.models.call import Call
from callbridge.media.providers.base import StreamOptions
from callbridge.media.providers.twilio import TwilioMediaStream

MEDIA_SECRET_KEY = "media-test-secret-key-0123456789-abcdef"

MediaPort = Callable[..., AbstractAsyncContextManager[int]]
"""The ``media_port`` fixture: ``async with media_port(**settings) as port``."""

TWILIO_STREAM_SID = "MZ" + "a" * 32
CALL = Call(call_id=uuid4(), created=datetime.now(UTC))
# Twilio's `start` (reference §1.2), as the Twilio stream tests and the playout tests use it.
TWILIO_START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC" + "b" * 32,
        "streamSid": TWILIO_STREAM_SID,
        "callSid": "CA" + "c" * 32,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"callId": "123"},
    },
    "streamSid": TWILIO_STREAM_SID,
}


def started_twilio() -> TwilioMediaStream:
    """A Twilio stream that has parsed its ``start`` (μ-law, 8 kHz)."""
    stream = TwilioMediaStream(CALL, StreamOptions())
    stream.parse(orjson.dumps(TWILIO_START))
    return stream


class FakeTimer:
    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A :class:`~callbridge.media.clock.Clock` that moves only when a test advances it.

    Reading, sleeping and timers all run on it, so code under test never mixes it with a real clock: a
    sleep ends when ``advance`` passes its deadline, whatever the machine's uptime. It starts far from zero
    on purpose (a real monotonic clock may be anywhere).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[FakeTimer] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, delay_s: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        # At least one step of the float: a real clock always moves on, and a sleep of a rounding error
        # (ahead of the lead by 1e-17 s) must not wake at the same instant for ever.
        when = max(self._now + delay_s, math.nextafter(self._now, math.inf))
        self.call_at(when, wake)
        await woken

    def call_at(self, when: float, callback: Callable[[], object]) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self._timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, firing each timer due on the way at its own time, and letting the
        tasks it wakes run until they wait again before moving on."""
        target = self._now + seconds
        await _settle()  # tasks already woken (e.g. a pacer told of new frames) set their timers first
        while True:
            due = [t for t in self._timers if not t.cancelled and t.when <= target]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self._timers.remove(timer)
            self._now = max(self._now, timer.when)
            timer.callback()
            await _settle()
        self._now = target


async def _settle() -> None:
    """Let ready tasks, and those they wake in turn, run to their next wait (a few loop passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def reference_ulaw_decode(codes: bytes) -> npt.NDArray[np.int16]:
    """μ-law to 16-bit linear, sample by sample as in the ITU-T G.711 reference code (Sun's g711.c
    ``ulaw2linear``): independent of callbridge's lookup tables, to check them against."""
    out = []
    for code in codes:
        u = ~code & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        out.append(0x84 - t if u & 0x80 else t - 0x84)
    return np.array(out, dtype=np.int16)


def reference_alaw_decode(codes: bytes) -> npt.NDArray[np.int16]:
    """A-law to 16-bit linear as in the reference code (``alaw2linear``), independent of the tables."""
    out = []
    for code in codes:
        a = code ^ 0x55
        t = (a & 0x0F) << 4
        segment = (a & 0x70) >> 4
        if segment == 0:
            t += 8
        elif segment == 1:
            t += 0x108
        else:
            t = (t + 0x108) << (segment - 1)
        out.append(t if a & 0x80 else -t)
    return np.array(out, dtype=np.int16)
