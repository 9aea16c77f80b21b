"""Micro-benchmark of the audio core: µs per 20 ms frame, ours beside audioop / soxr VHQ.

Run from the repository root: ``python -m bench.audio``. Each figure is the median of several runs
of many frames, timed with ``time.perf_counter_ns`` around the whole loop; the Python call of each
frame is included, as it is on the live path. The target is the live inbound path of a μ-law call:
decode 160 bytes and resample 8k→16k in at most 10 µs per 20 ms frame.
"""

import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt
import soxr

from callbridge.media.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callbridge.media.audio.pcm import samples_per_frame
from callbridge.media.audio.resampler import StreamResampler

FRAMES_PER_RUN = 20_000
RUNS = 7
TARGET_US = 10.0  # μ-law decode + 8k→16k resample, per 20 ms frame
RESAMPLE_PAIRS = [(8000, 16000), (16000, 8000), (8000, 24000), (24000, 8000), (16000, 24000)]

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Row:
    operation: str
    ours_us: float
    reference_us: float | None
    reference: str


def _import_audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated since 3.11, gone in 3.13
        try:
            import audioop
        except ImportError:
            return None
    return audioop


def time_per_frame_us(step: Callable[[], object]) -> float:
    """Median over RUNS of the mean time of one call, in µs."""
    for _ in range(FRAMES_PER_RUN // 10):  # warm caches, allocator and the resampler's plans
        step()
    runs_us = []
    for _ in range(RUNS):
        started_ns = time.perf_counter_ns()
        for _ in range(FRAMES_PER_RUN):
            step()
        runs_us.append((time.perf_counter_ns() - started_ns) / FRAMES_PER_RUN / 1000)
    return statistics.median(runs_us)


def speech_like_frame(rate_hz: int, seed: int) -> Int16Array:
    """20 ms of a -10 dBFS tone plus noise: exercises every G.711 segment like speech does."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(samples_per_frame(rate_hz)) / rate_hz
    signal = 10362 * np.sin(2 * np.pi * 437 * time_s) + rng.normal(0, 2000, time_s.size)
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def soxr_stream_step(in_rate_hz: int, out_rate_hz: int, frame: Int16Array) -> Callable[[], object]:
    stream = soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="int16", quality="VHQ")
    return lambda: stream.resample_chunk(frame)


def codec_rows(audioop: ModuleType | None) -> list[Row]:
    pcm_8k = speech_like_frame(8000, seed=1)
    pcm_bytes = pcm_8k.tobytes()
    ulaw = ulaw_encode(pcm_8k)
    alaw = alaw_encode(pcm_8k)
    ours: dict[str, Callable[[], object]] = {
        "μ-law decode (160 B)": lambda: ulaw_decode(ulaw),
        "μ-law encode (160 samples)": lambda: ulaw_encode(pcm_8k),
        "A-law decode (160 B)": lambda: alaw_decode(alaw),
        "A-law encode (160 samples)": lambda: alaw_encode(pcm_8k),
    }
    references: dict[str, Callable[[], object]] = {}
    if audioop is not None:
        references = {
            "μ-law decode (160 B)": lambda: audioop.ulaw2lin(ulaw, 2),
            "μ-law encode (160 samples)": lambda: audioop.lin2ulaw(pcm_bytes, 2),
            "A-law decode (160 B)": lambda: audioop.alaw2lin(alaw, 2),
            "A-law encode (160 samples)": lambda: audioop.lin2alaw(pcm_bytes, 2),
        }
    return [
        Row(
            name,
            time_per_frame_us(step),
            time_per_frame_us(references[name]) if name in references else None,
            "audioop",
        )
        for name, step in ours.items()
    ]


def process_step(resampler: StreamResampler, frame: Int16Array) -> Callable[[], object]:
    return lambda: resampler.process(frame)


def resample_rows() -> list[Row]:
    rows = []
    for in_rate_hz, out_rate_hz in RESAMPLE_PAIRS:
        frame = speech_like_frame(in_rate_hz, seed=in_rate_hz + out_rate_hz)
        rows.append(
            Row(
                f"resample {in_rate_hz // 1000}k→{out_rate_hz // 1000}k",
                time_per_frame_us(process_step(StreamResampler(in_rate_hz, out_rate_hz), frame)),
                time_per_frame_us(soxr_stream_step(in_rate_hz, out_rate_hz, frame)),
                "soxr.ResampleStream VHQ",
            )
        )
    return rows


def combined_rows(audioop: ModuleType | None) -> list[Row]:
    ulaw = ulaw_encode(speech_like_frame(8000, seed=2))
    pcm_16k = speech_like_frame(16000, seed=3)
    upsampler = StreamResampler(8000, 16000)
    downsampler = StreamResampler(16000, 8000)
    soxr_up = soxr.ResampleStream(8000, 16000, 1, dtype="int16", quality="VHQ")
    soxr_down = soxr.ResampleStream(16000, 8000, 1, dtype="int16", quality="VHQ")

    def reference_decode() -> object:
        assert audioop is not None
        return soxr_up.resample_chunk(np.frombuffer(audioop.ulaw2lin(ulaw, 2), dtype=np.int16))

    def reference_encode() -> object:
        assert audioop is not None
        return audioop.lin2ulaw(soxr_down.resample_chunk(pcm_16k).tobytes(), 2)

    return [
        Row(
            "μ-law decode + resample 8k→16k",
            time_per_frame_us(lambda: upsampler.process(ulaw_decode(ulaw))),
            time_per_frame_us(reference_decode) if audioop else None,
            "audioop + soxr VHQ",
        ),
        Row(
            "resample 16k→8k + μ-law encode",
            time_per_frame_us(lambda: ulaw_encode(downsampler.process(pcm_16k))),
            time_per_frame_us(reference_encode) if audioop else None,
            "soxr VHQ + audioop",
        ),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(row.operation) for row in rows)
    print(f"{'operation':<{width}}  {'ours µs':>8}  {'ref µs':>8}  reference")
    print("-" * (width + 50))
    for row in rows:
        reference = f"{row.reference_us:8.2f}" if row.reference_us is not None else f"{'n/a':>8}"
        print(f"{row.operation:<{width}}  {row.ours_us:8.2f}  {reference}  {row.reference}")


def main() -> int:
    audioop = _import_audioop()
    print(
        f"callbridge audio core: µs per 20 ms frame, median of {RUNS} runs × {FRAMES_PER_RUN} frames; "
        f"Python {platform.python_version()}, numpy {np.__version__}, soxr {soxr.__version__}"
    )
    print("(soxr.ResampleStream figures are amortized: it returns nothing, then ~95 ms blocks)\n")
    rows = codec_rows(audioop) + resample_rows() + combined_rows(audioop)
    print_table(rows)
    live_path_us = next(row.ours_us for row in rows if row.operation.startswith("μ-law decode + resample"))
    verdict = "PASS" if live_path_us <= TARGET_US else "FAIL"
    print(
        f"\n{verdict}: μ-law decode + 8k→16k resample = {live_path_us:.2f} µs per 20 ms frame "
        f"(target ≤ {TARGET_US:g} µs)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
