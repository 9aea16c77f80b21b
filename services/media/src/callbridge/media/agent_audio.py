"""Agent audio to the provider's frames: cut into whole frames, resampled, handed to the playout.

An agent sends audio in chunks of any size (odd byte counts included: a sample may be split across
chunks, the buffer keeps the byte until its pair arrives). A frame leaves only whole, so what is left after
the last whole frame waits here for the rest. When the rest does not come, the part-filled frame is padded
with silence and sent; the question is when.

Padding too early inserts silence into continuous speech: the agent's next chunk arrives, and it plays
after the padding instead of right after the audio before it. Padding too late holds an utterance's last
words back. The rule: pad only when the caller would otherwise hear a gap, and only once that gap would
be longer than the silence the padding adds. The caller runs out of audio when everything sent and queued
has played (``Playout.dry_at``; for a part-frame with nothing playing, when that part would have played
from its arrival). From then on the caller hears silence either way; the padding would add
``frame - part`` of it, so the part is padded once the wait has lasted that long (at least
``MIN_TAIL_WAIT_S``). An agent that keeps ahead of the playout never gets padding in its speech, however
it chunks its audio; one that stops has its last part played at most one frame after the audio before it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from callbridge.media.audio.resampler import Resampler
from callbridge.media.clock import TimerHandle
from callbridge.media.playout import Playout

MIN_TAIL_WAIT_S: Final = 0.02
"""The least wait past the moment the caller would run out: one 20 ms frame of the agent's jitter."""
_EARLY_S: Final = 0.002  # a timer may fire this much early (uvloop's clock has 1 ms steps)


class AgentAudioFramer:
    """One call's agent-to-caller audio, from the agent's chunks to the playout's frames."""

    def __init__(
        self,
        playout: Playout,
        resampler: Resampler,
        *,
        agent_rate_hz: int,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
    ) -> None:
        self._playout = playout
        self._resampler = resampler
        self.agent_rate_hz = agent_rate_hz
        self._clock = playout.clock
        self._spawn = spawn
        # The playout's frame (the stream's), in the agent's audio: a frame at one rate is one at the other.
        self._frame_bytes = agent_rate_hz * playout.frame_ms // 1000 * 2
        self._frame_s = playout.frame_ms / 1000
        self._bytes_per_s = agent_rate_hz * 2
        self._buffer = bytearray()
        self._part_since = 0.0  # when the part-filled frame's oldest audio arrived (clock seconds)
        self._timer: TimerHandle | None = None
        self._playing = False
        self.frames_padded = 0

    async def push(self, pcm: bytes) -> None:
        """A chunk from the agent: whole frames go to the playout, the rest waits for more."""
        buffer = self._buffer
        frame_bytes = self._frame_bytes
        if not buffer and len(pcm) % frame_bytes == 0:
            samples = np.frombuffer(pcm, dtype="<i2")  # whole frames, nothing pending: no copy
        else:
            if not buffer:
                self._part_since = self._clock.now()
            buffer += pcm
            if len(buffer) < frame_bytes:
                self._arm()
                return
            usable = len(buffer) - len(buffer) % frame_bytes
            samples = np.frombuffer(bytes(buffer[:usable]), dtype="<i2")
            del buffer[:usable]
            if buffer:
                self._part_since = self._clock.now()
                self._arm()
        self._playing = True
        try:
            await self._play(samples)
        finally:
            self._playing = False

    async def flush(self) -> None:
        """Pad the part-filled frame with silence and play it now (the agent is done, e.g. hanging up)."""
        buffer = self._buffer
        if not buffer:
            return
        padded = bytes(buffer) + bytes(self._frame_bytes - len(buffer))
        buffer.clear()
        self.frames_padded += 1
        self._playing = True
        try:
            await self._play(np.frombuffer(padded, dtype="<i2"))
        finally:
            self._playing = False

    def clear(self) -> None:
        """Barge-in: drop the part-filled frame, and the resampler's memory of the cut turn."""
        self._buffer.clear()
        self._cancel_timer()
        self._resampler.reset()  # no filter tail of the cut turn leaks into the next

    def close(self) -> None:
        self._cancel_timer()

    @property
    def tail_due_at(self) -> float:
        """When the part-filled frame is to be padded and sent, if no more audio comes (clock seconds)."""
        part_s = len(self._buffer) / self._bytes_per_s
        runs_dry_at = max(self._playout.dry_at, self._part_since + part_s)
        return runs_dry_at + max(self._frame_s - part_s, MIN_TAIL_WAIT_S)

    async def _play(self, samples: npt.NDArray[np.int16]) -> None:
        """Whole frames at the agent's rate, resampled to the provider's and queued for playout."""
        step = self._frame_bytes // 2
        resampler = self._resampler
        play = self._playout.play
        for start in range(0, len(samples), step):
            await play(resampler.process(samples[start : start + step]))

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = self._clock.call_at(self.tail_due_at, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        """The timer was set from what was known then; audio sent since moves the moment on."""
        self._timer = None
        if not self._buffer:
            return
        if not self._rearm():
            self._spawn(self._flush_if_due(), "agent-tail")

    async def _flush_if_due(self) -> None:
        if self._buffer and not self._rearm():
            await self.flush()

    def _rearm(self) -> bool:
        """Set the timer again if the tail is not due yet (or frames are being played); False if due."""
        now = self._clock.now()
        due_at = self.tail_due_at
        if not self._playing and due_at - now <= _EARLY_S:
            return False
        if self._timer is None:
            self._timer = self._clock.call_at(max(due_at, now + _EARLY_S), self._on_timer)
        return True
