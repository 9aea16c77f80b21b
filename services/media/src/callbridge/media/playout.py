"""Agent audio to the provider: one 20 ms frame at a time, paced against real time, each followed by a mark.

The provider plays what we send into its own buffer. Sending far ahead of real time would let that buffer
hold seconds of speech that a barge-in ``clear`` must then discard, and a provider that does not clear
(or a lost clear) would keep talking. So frames leave at most ``lead_ms`` ahead of the provider's
playout clock, which we model as: everything sent plays back to back from the moment it is sent.

Each frame is followed by a mark named ``<turn>.<seq>``. The provider echoes a mark when the audio before
it has played, so acknowledged marks say what the caller actually heard. A clear makes Twilio echo every
pending mark at once; those marks were flagged at the clear and count as not heard (reference §1.5).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callbridge.media.clock import Clock, LoopClock
from callbridge.media.providers.base import ProviderStream

logger = logging.getLogger(__name__)

MAX_QUEUED_MS = 300_000
"""Five minutes of audio: more than any single agent turn; a runaway agent is cut off here."""


@dataclass(slots=True)
class _PendingMark:
    name: str
    turn: int
    cleared: bool = False
    sent_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Truncation:
    """What a barge-in cut: the turn, how much of it was sent, acknowledged and (estimated) heard."""

    turn: int
    sent_ms: int
    acknowledged_ms: int
    heard_ms: int
    dropped_frames: int


MARK_SAMPLE = 10
"""One mark in this many (by send sequence at the echo) is timed for the round-trip metric."""
MAX_RTT_SAMPLES = 360
"""At most this many round trips per call (an hour of 20 ms frames sampled one in ten is 18,000)."""


class Playout:
    def __init__(
        self,
        stream: ProviderStream,
        send: Callable[[str], Awaitable[bool]],
        *,
        lead_ms: int,
        clock: Clock | None = None,
    ) -> None:
        self._stream = stream
        self._send = send
        self._lead_s = lead_ms / 1000
        # The stream's frame duration, read once: a stream fixes it at construction (providers/base.py).
        self._frame_ms = stream.frame_ms
        self._frame_s = self._frame_ms / 1000
        self._max_queued_frames = MAX_QUEUED_MS // self._frame_ms
        self.clock: Clock = clock or LoopClock()
        """What pacing reads and sleeps on (the event loop's clock unless a test gives its own)."""
        self._now = self.clock.now
        self._queue: collections.deque[str] = collections.deque()
        self._pending: collections.deque[_PendingMark] = collections.deque()
        self._pending_names: set[str] = set()
        self._play_end = 0.0  # when the provider will have played everything sent so far (clock seconds)
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._pacer: asyncio.Task[None] | None = None
        self._audio_waiter: asyncio.Future[None] | None = None
        self.turn = 0
        self._seq = 0
        self._turn_sent_ms = 0
        self._turn_acked_ms = 0
        self.frames_sent = 0
        self.frames_queued = 0
        """Every frame ``play`` took (sent, queued or dropped): a later count means the agent's audio came."""
        self.first_sent_at: float | None = None
        """When the first frame was sent (clock seconds); None until then."""
        self.mark_round_trips: list[float] = []
        """Seconds from sending a mark to its echo, one mark in MARK_SAMPLE (at most MAX_RTT_SAMPLES)."""
        self.frames_dropped = 0
        self.marks_unknown = 0
        self.sends_dropped = 0
        """Messages the provider socket refused (peer gone, or not reading: see ProviderSocket.send)."""

    def start(self, name: str) -> None:
        self._pacer = asyncio.create_task(self._pace(), name=name)
        self._pacer.add_done_callback(_log_failure)

    async def close(self) -> None:
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
            self._pacer = None

    @property
    def frame_ms(self) -> int:
        """The duration of one outbound frame: what ``play`` takes and sends."""
        return self._frame_ms

    @property
    def ahead_s(self) -> float:
        """How much sent audio the provider has not played yet, by our clock model."""
        return max(0.0, self._play_end - self._now())

    @property
    def dry_at(self) -> float:
        """When the provider will have played everything sent and queued so far (clock seconds)."""
        queued = len(self._queue)
        if not queued:
            return self._play_end
        return max(self._play_end, self._now()) + queued * self._frame_s

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    async def play(self, pcm: npt.NDArray[np.int16]) -> None:
        """Queue one frame (``frame_ms`` at the provider's rate); it leaves at once when within the lead."""
        message = self._stream.media_message(pcm)
        self.frames_queued += 1
        self._drained.clear()
        if self._audio_waiter is not None:
            self._audio_waiter.set_result(None)
            self._audio_waiter = None
        if not self._queue and self._play_end - self._now() <= self._lead_s:
            await self._send_frame(message)
            return
        if len(self._queue) >= self._max_queued_frames:
            self.frames_dropped += 1
            return
        self._queue.append(message)
        self._wake.set()

    async def _send_frame(self, message: str) -> None:
        self._seq += 1
        name = f"{self.turn}.{self._seq}"
        now = self._now()
        self._play_end = max(self._play_end, now) + self._frame_s
        self._pending.append(_PendingMark(name, self.turn, sent_at=now))
        self._pending_names.add(name)
        self._turn_sent_ms += self._frame_ms
        if not self.frames_sent:
            self.first_sent_at = now
        self.frames_sent += 1
        send = self._send
        if not await send(message):
            self.sends_dropped += 1
        if not await send(self._stream.mark_message(name)):
            self.sends_dropped += 1

    async def _pace(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                ahead = self._play_end - self._now()
                if ahead > self._lead_s:
                    await self.clock.sleep(ahead - self._lead_s)
                    continue
                await self._send_frame(self._queue.popleft())

    def on_mark(self, name: str) -> bool:
        """The provider echoed a mark. Returns True when it stands for audio the caller heard."""
        if name not in self._pending_names:
            self.marks_unknown += 1
            return False
        heard = False
        # Providers echo marks in order; anything before this one was lost and is dropped with it.
        while self._pending:
            mark = self._pending.popleft()
            self._pending_names.discard(mark.name)
            if mark.name == name:
                heard = not mark.cleared and mark.turn == self.turn
                if heard:
                    self._turn_acked_ms += self._frame_ms
                    samples = self.mark_round_trips
                    if self._seq % MARK_SAMPLE == 0 and len(samples) < MAX_RTT_SAMPLES:
                        samples.append(self._now() - mark.sent_at)
                break
        if not self._pending and not self._queue:
            self._drained.set()
        return heard

    def on_cleared(self) -> None:
        """The provider confirmed a clear (Plivo ``clearedAudio``): marks still pending will never come back,
        so they are resolved as not played (reference §3.6)."""
        while self._pending and self._pending[0].cleared:
            self._pending_names.discard(self._pending.popleft().name)
        if not self._pending and not self._queue:
            self._drained.set()

    async def clear(self) -> Truncation:
        """Barge-in: drop every queued frame, tell the provider to clear, start a new turn."""
        dropped = len(self._queue)
        self._queue.clear()
        self.frames_dropped += dropped
        for mark in self._pending:
            mark.cleared = True
        unplayed_ms = round(self.ahead_s * 1000)
        clock_heard_ms = self._turn_sent_ms - unplayed_ms
        truncation = Truncation(
            turn=self.turn,
            sent_ms=self._turn_sent_ms,
            acknowledged_ms=self._turn_acked_ms,
            heard_ms=min(self._turn_sent_ms, max(self._turn_acked_ms, clock_heard_ms)),
            dropped_frames=dropped,
        )
        self.turn += 1
        self._turn_sent_ms = self._turn_acked_ms = 0
        self._play_end = self._now()  # the provider's buffer is empty once it has the clear
        # Always send the clear, even with nothing queued here: the provider may still be playing
        # audio it already has (reference §1.5).
        if not await self._send(self._stream.clear_message()):
            self.sends_dropped += 1
        if not self._pending:
            self._drained.set()
        return truncation

    async def wait_for_audio(self, timeout_s: float, *, after: int | None = None) -> bool:
        """Wait until the next frame is played (e.g. the agent starts saying what it was asked to), or
        return at once if one was since ``frames_queued`` was ``after``; False on timeout."""
        if after is not None and self.frames_queued > after:
            return True
        waiter = self._audio_waiter
        if waiter is None:
            waiter = self._audio_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(waiter)
        except TimeoutError:
            return False
        return True

    async def wait_drained(self, timeout_s: float) -> bool:
        """Wait until every frame sent has been played (its mark echoed); False on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._drained.wait()
        except TimeoutError:
            return False
        return True

    async def wait_for_reply(self, asked_at: int, start_timeout_s: float, play_timeout_s: float) -> bool:
        """The agent was asked to say something when ``frames_queued`` was ``asked_at``: wait until its
        audio has started (at most ``start_timeout_s``), then until all of it has played (at most
        ``play_timeout_s``). False if it never started or had not finished playing by then."""
        started = await self.wait_for_audio(start_timeout_s, after=asked_at)
        return started and await self.wait_drained(play_timeout_s)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("task %s failed", task.get_name(), exc_info=task.exception())
