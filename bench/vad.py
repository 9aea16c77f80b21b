"""Micro-benchmark of the caller's speech detector (media/vad.py): CPU per frame and per call-second.

Run from the repository root: ``python -m bench.vad``. The detector runs only while a call's first turn is
decided (firstSpeakerSettings.user, until the caller has spoken and stopped, or the fallback), so its cost
is paid per listening call-second, not per call-second. Figures are CPU time (``time.process_time_ns``)
over many 20 ms provider frames at 8 kHz (Twilio μ-law, decoded) and 16 kHz (L16), median of several runs,
each with a fresh detector: speech (the model scores every 32 ms frame), line noise (-40 dBFS: the model
scores it too) and line silence (-65 dBFS: below the silence gate, the model is not run). Also: the time
to load the process's one model, and what each call's detector adds to memory. The media budget it is set
against is bench.calls' target of 4 ms of media CPU per call-second for the whole call.
"""

import resource
import statistics
import sys
import time

import numpy as np
import numpy.typing as npt

from callbridge.media.agents.demo import SAMPLE_RATE_HZ as PROMPT_RATE_HZ
from callbridge.media.agents.demo import prompt
from callbridge.media.audio.resampler import create_resampler
from callbridge.media.vad import SpeechDetector, VadTuning, shared_model

RATES_HZ = (8000, 16000)
RUNS = 5
SECONDS_PER_RUN = 6.0
MEDIA_BUDGET_MS_PER_CALL_S = 4.0

Int16Array = npt.NDArray[np.int16]


def speech_at(rate_hz: int) -> Int16Array:
    pcm = np.frombuffer(prompt("greeting"), dtype="<i2")
    return create_resampler(PROMPT_RATE_HZ, rate_hz).process(pcm)


def noise_at(rate_hz: int, dbfs: float, seconds: float) -> Int16Array:
    rng = np.random.default_rng(3)
    white = rng.standard_normal(int(seconds * rate_hz)) * 32767 * 10 ** (dbfs / 20)
    return np.clip(np.round(white), -32768, 32767).astype(np.int16)


def cpu_us_per_frame(audio: Int16Array, rate_hz: int) -> tuple[float, float]:
    """Median CPU µs per 20 ms frame fed to a fresh detector, and the share of 32 ms frames scored."""
    step = rate_hz // 50
    frames = [audio[i : i + step] for i in range(0, len(audio) - step + 1, step)]
    wanted = int(SECONDS_PER_RUN / 0.020)
    frames = (frames * (wanted // len(frames) + 1))[:wanted]
    figures = []
    scored = 0.0
    for _ in range(RUNS):
        detector = SpeechDetector(VadTuning(), rate_hz)
        start = time.process_time_ns()
        for frame in frames:
            detector.feed(frame)
        figures.append((time.process_time_ns() - start) / 1000 / len(frames))
        scored = detector.frames_scored / max(detector.frames_seen, 1)
    return statistics.median(figures), scored


def main() -> int:
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    shared_model()
    load_ms = (time.perf_counter() - start) * 1000
    model_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 1024
    detectors = [SpeechDetector(VadTuning(), 16000) for _ in range(1000)]
    per_call_kb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kb) / 1024 - model_mb
    del detectors
    print(f"speech detector (Silero VAD on ONNX Runtime, one thread), Python {sys.version.split()[0]}")
    print(
        f"model: loaded once per process in {load_ms:.0f} ms, {model_mb:.1f} MB; 1000 calls' detectors "
        f"add {per_call_kb:.1f} MB ({per_call_kb * 1024 / 1000:.1f} KB per call)\n"
    )
    print(f"CPU per 20 ms frame (scored at the stream's rate), median of {RUNS} runs\n")
    header = f"{'caller audio':<26}  {'rate':>6}  {'µs/frame':>9}  {'ms per listening call-s':>24}"
    print(f"{header}  {'frames scored':>13}")
    for rate_hz in RATES_HZ:
        for name, audio in (
            ("speech (greeting)", speech_at(rate_hz)),
            ("line noise -40 dBFS", noise_at(rate_hz, -40, 2.0)),
            ("line silence -65 dBFS", noise_at(rate_hz, -65, 2.0)),
        ):
            us, scored = cpu_us_per_frame(audio, rate_hz)
            per_call_s = us * 50 / 1000
            print(f"{name:<26}  {rate_hz:>6}  {us:9.1f}  {per_call_s:24.2f}  {scored:13.0%}")
    print(
        f"\nmedia's budget: {MEDIA_BUDGET_MS_PER_CALL_S} ms per call-second for the whole call (bench.calls);"
        " the detector runs only while a user-first call waits for the caller and hears the caller's first"
        " turn"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
