"""Micro-benchmark of in-band DTMF: the detector's cost per 20 ms frame of caller audio, and synthesis.

Run from the repository root: ``python -m bench.dtmf``. The detector runs on the caller's audio of every
call (caller_keys.py: keys the provider does not report as events), so its cost is part of the media CPU
budget. Figures: the detector fed each 20 ms frame, and the session's path (``CallerKeys``: 20 ms frames in,
the detector run on 100 ms batches) on loud speech-like noise (every block gets the full analysis) and on a
quiet line (the energy gate skips the analysis: a caller listening to the agent). Each is the median of
several runs over a minute of audio.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from callbridge.media.audio.dtmf_tones import DtmfDetector, synthesize
from callbridge.media.caller_keys import CallerKeys

RUNS = 5
SECONDS = 60


def detector_us_per_frame(rate_hz: int) -> float:
    frame = rate_hz // 50
    audio = np.random.default_rng(1).normal(0, 3000, rate_hz * SECONDS).astype(np.int16)
    frames = [audio[i : i + frame] for i in range(0, audio.size, frame)]
    runs = []
    for _ in range(RUNS):
        detector = DtmfDetector(rate_hz)
        start = time.perf_counter_ns()
        for chunk in frames:
            detector.feed(chunk)
        runs.append((time.perf_counter_ns() - start) / len(frames) / 1000)
    return statistics.median(runs)


def caller_keys_us_per_frame(rate_hz: int, level: float) -> float:
    """The session's path: 20 ms frames into CallerKeys; ``level`` is the noise's standard deviation."""
    frame = rate_hz // 50
    audio = np.random.default_rng(1).normal(0, level, rate_hz * SECONDS).astype(np.int16)
    frames = [audio[i : i + frame] for i in range(0, audio.size, frame)]
    runs = []
    for _ in range(RUNS):
        keys = CallerKeys(lambda digit: None, time.perf_counter, rate_hz=rate_hz)
        start = time.perf_counter_ns()
        for chunk in frames:
            keys.on_audio(chunk)
        runs.append((time.perf_counter_ns() - start) / len(frames) / 1000)
    return statistics.median(runs)


def synthesis_us_per_digit(rate_hz: int) -> float:
    runs = []
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        synthesize("0123456789*#ABCD", rate_hz)
        runs.append((time.perf_counter_ns() - start) / 16 / 1000)
    return statistics.median(runs)


def main() -> None:
    print(f"in-band DTMF (median of {RUNS} runs)")
    for rate in (8000, 16000):
        print(f"  detector  {rate:>5} Hz: {detector_us_per_frame(rate):7.1f} µs per 20 ms frame")
    for rate in (8000, 16000):
        loud, quiet = caller_keys_us_per_frame(rate, 3000.0), caller_keys_us_per_frame(rate, 30.0)
        print(
            f"  session   {rate:>5} Hz: {loud:7.1f} µs per 20 ms frame loud, {quiet:5.1f} quiet"
            f" ({loud * 50 / 1000:.2f} / {quiet * 50 / 1000:.2f} ms per call-second)"
        )
    for rate in (8000, 16000):
        print(f"  synthesis {rate:>5} Hz: {synthesis_us_per_digit(rate):7.1f} µs per digit (0.2 s + 0.1 s)")


if __name__ == "__main__":
    main()
