"""Telling the byte order of 16-bit PCM from the audio itself (Telnyx L16, reference §2.5 and §7.1).

Telnyx does not document its L16 byte order: RFC 3551 says big-endian, some integrations found
little-endian. Read in the wrong order, the low byte of each sample becomes the high one, so any signal,
speech or tone, turns into near-white noise at full scale: its mean |sample-to-sample step| is thousands,
where real audio at the same level steps by tens to hundreds. So both readings of the first frames that
carry signal are compared; the order wins when the other reading steps at least ``MARGIN`` times as much,
summed over at least ``MIN_FRAMES`` such frames. Silence (all zeros, or a constant) says nothing and is
skipped. Loud white noise in the right order looks the same either way, and stays undecided: after
``MAX_FRAMES`` frames with signal the check gives up and the configured order stands.

Only a frame that could be real audio votes: one that parsed and decoded whole (the stream calls ``observe``
after decoding), of a plausible frame length (a whole number of 10 ms, 10 to 60 ms: RTP packetizations),
whose smoother reading is clearly louder than silence. A short, odd, cut or near-silent payload says
little about the order and is easy to craft: a few of them could otherwise switch a call's audio to noise.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from callbridge.media.providers.base import ByteOrder

MIN_FRAMES: Final = 3
MARGIN: Final = 2.0
MAX_FRAMES: Final = 50  # 1 s of 20 ms frames with signal
# Mean |step| of both readings together below which a frame counts as silence: a constant or all-zero
# frame steps by 0 in either order; a frame holding a single ±1 already steps far more when swapped.
SILENCE_STEP: Final = 0.5
# RMS, in the smoother reading, below which a frame does not vote: about -50 dBFS, under any voice but above
# the one-bit patterns (e.g. alternating 0 and 3) that read smoothly in one order only by construction.
MIN_SIGNAL_RMS: Final = 100.0
MIN_FRAME_MS: Final = 10
MAX_FRAME_MS: Final = 60

_DTYPES: Final = {"little": np.dtype("<i2"), "big": np.dtype(">i2")}


def other(order: ByteOrder) -> ByteOrder:
    return "big" if order == "little" else "little"


def mean_step(data: bytes, order: ByteOrder) -> float:
    """Mean |difference| of consecutive samples of ``data`` read as 16-bit PCM in ``order``."""
    samples = np.frombuffer(data, dtype=_DTYPES[order]).astype(np.int32)
    if samples.shape[0] < 2:
        return 0.0
    return float(np.abs(np.diff(samples)).mean())


def rms(data: bytes, order: ByteOrder) -> float:
    samples = np.frombuffer(data, dtype=_DTYPES[order]).astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if samples.shape[0] else 0.0


class ByteOrderCheck:
    """Watches the first inbound frames; ``verdict`` is the order they show, once they show one."""

    def __init__(self, assumed: ByteOrder, sample_rate_hz: int) -> None:
        self.assumed: ByteOrder = assumed
        self._step_bytes = sample_rate_hz * MIN_FRAME_MS // 1000 * 2  # 10 ms of 16-bit samples
        self._max_bytes = sample_rate_hz * MAX_FRAME_MS // 1000 * 2
        self.verdict: ByteOrder | None = None
        self.done = False
        self.frames_with_signal = 0
        self._assumed_steps = 0.0
        self._other_steps = 0.0

    def observe(self, data: bytes) -> ByteOrder | None:
        """Feed one decoded frame's payload; returns the verdict on the frame that settles it, else None."""
        if self.done or len(data) % self._step_bytes or not 0 < len(data) <= self._max_bytes:
            return None
        assumed_step = mean_step(data, self.assumed)
        other_step = mean_step(data, other(self.assumed))
        if assumed_step + other_step < SILENCE_STEP:
            return None
        smoother = self.assumed if assumed_step <= other_step else other(self.assumed)
        if rms(data, smoother) < MIN_SIGNAL_RMS:
            return None
        self.frames_with_signal += 1
        self._assumed_steps += assumed_step
        self._other_steps += other_step
        if self.frames_with_signal < MIN_FRAMES:
            return None
        if self._other_steps >= MARGIN * self._assumed_steps:
            self.verdict = self.assumed
        elif self._assumed_steps >= MARGIN * self._other_steps:
            self.verdict = other(self.assumed)
        elif self.frames_with_signal < MAX_FRAMES:
            return None
        self.done = True
        return self.verdict
