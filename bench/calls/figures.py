"""Per-provider figures of one load run: calls, frames, losses and echo latency, with their verdicts.

Echo latency per provider, and which reading the "p99 < 20 ms" target is judged on:

- Twilio, Telnyx, Plivo: media echoes in 20 ms messages, one per inbound frame, so the latency of an
  inbound frame is the arrival of the message holding it minus the frame's send time, as for the first
  Twilio benchmark.
- Exotel: media sends 100 ms chunks at 16 kHz (``ExotelMediaStream.frame_ms``), because Exotel takes no
  chunk under 3.2 KB / 100 ms (reference §4.3). A chunk holds 5 inbound frames and can only leave once the
  5th has arrived, so per inbound frame the latency includes 0-80 ms of waiting for the later frames: a
  floor set by Exotel's rule that no implementation following it can go under. The target is therefore
  judged on each chunk's newest frame, the one that completed it: the time media adds once it has the audio,
  which is what the target bounds for the other providers. The per-frame reading is reported beside it.
"""

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.calls.result import CallResult

FloatArray = npt.NDArray[np.float64]
TARGET_P99_MS = 20.0


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool | None
    """None: not judged by this run."""
    target: str
    measured: str


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    provider: str
    streamed: int
    failed: int
    frames_sent: int
    echo_frames: float
    lost: int
    frame_latencies_s: FloatArray
    """Per inbound frame, to the first echoed message holding it."""
    newest_latencies_s: FloatArray
    """Per echoed message, from the newest inbound frame it holds."""
    echo_chunk_ms: float
    """The most common duration of one echoed message."""
    violations: int

    @property
    def chunked(self) -> bool:
        """The server echoes in messages longer than one inbound frame (Exotel)."""
        return self.echo_chunk_ms > 20.5

    @property
    def judged_latencies_s(self) -> FloatArray:
        return self.newest_latencies_s if self.chunked else self.frame_latencies_s

    @property
    def latency_reading(self) -> str:
        return "from the chunk's newest frame" if self.chunked else "per frame"


def provider_figures(results: list[CallResult], rates_hz: dict[str, int]) -> list[ProviderFigures]:
    """One entry per provider in ``results``, in order of first appearance."""
    by_provider: dict[str, list[CallResult]] = {}
    for result in results:
        by_provider.setdefault(result.provider, []).append(result)
    return [_figures(name, calls, rates_hz[name]) for name, calls in by_provider.items()]


def _figures(provider: str, results: list[CallResult], rate_hz: int) -> ProviderFigures:
    streamed = [r for r in results if r.frames_sent > 0]
    frames_sent = sum(r.frames_sent for r in results)
    echo_samples = sum(sum(r.echo_samples) for r in results)
    frame_samples = results[0].frame_samples
    sizes = [size for r in streamed for size in r.echo_samples]
    return ProviderFigures(
        provider=provider,
        streamed=len(streamed),
        failed=sum(1 for r in results if r.error is not None),
        frames_sent=frames_sent,
        echo_frames=echo_samples / frame_samples,
        lost=frames_sent - echo_samples // frame_samples,
        frame_latencies_s=_array(lat for r in streamed for lat in r.echo_latencies_s()),
        newest_latencies_s=_array(lat for r in streamed for lat in r.newest_frame_latencies_s()),
        echo_chunk_ms=1000 * statistics.mode(sizes) / rate_hz if sizes else math.nan,
        violations=sum(r.violations for r in results),
    )


def _array(values: Iterable[float]) -> FloatArray:
    return np.fromiter(values, dtype=np.float64)


def ms(values: FloatArray, q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values.size else math.nan


def spread(values: FloatArray) -> str:
    return f"p50 {ms(values, 50):.2f} ms, p99 {ms(values, 99):.2f} ms, max {ms(values, 100):.2f} ms"


def _triple(values: FloatArray) -> str:
    return f"{ms(values, 50):6.2f} {ms(values, 99):6.2f} {ms(values, 100):7.2f}"


def format_table(figures: list[ProviderFigures]) -> list[str]:
    """The per-provider rows of the report, with the reading of any chunked provider's latency."""
    lines = [
        "per provider      calls  failed  frames sent  echoed  lost  echo msg  "
        "latency ms:  p50    p99     max",
    ]
    for f in figures:
        lines.append(
            f"  {f.provider:<15}{f.streamed:>6}{f.failed:>8}{f.frames_sent:>13}{f.echo_frames:>8.0f}"
            f"{f.lost:>6}{f.echo_chunk_ms:>7.0f} ms  {'':>10}{_triple(f.judged_latencies_s)}  "
            f"{f.latency_reading}"
        )
        if f.chunked:
            lines.append(
                f"{'':<80}{_triple(f.frame_latencies_s)}  per frame, incl. waiting for the chunk to fill"
            )
    for f in figures:
        if f.chunked:
            frames = round(f.echo_chunk_ms / 20)
            lines.append(
                f"  note: {f.provider}: media echoes in {f.echo_chunk_ms:.0f} ms chunks ({frames} inbound "
                "frames; the provider's minimum chunk), so a frame's echo also waits"
            )
            lines.append(
                f"        up to {f.echo_chunk_ms - 20:.0f} ms for the frames after it. Its p99 < "
                f"{TARGET_P99_MS:g} ms target is judged from each chunk's newest frame: the time media adds "
                "once"
            )
            lines.append("        it holds the whole chunk. The per-frame figure is reported, not judged.")
    return lines


def provider_verdicts(figures: list[ProviderFigures], judge_losses: bool, suffix: str = "") -> list[Verdict]:
    """No lost frame (judged at the target's scale only) and the p99 target, for each provider; ``suffix``
    follows the provider's name in the targets' labels."""
    verdicts: list[Verdict] = []
    for f in figures:
        name = f.provider + suffix
        verdicts.append(
            Verdict(
                (f.lost == 0 and not f.failed) if judge_losses else None,
                f"{name}: no lost frame",
                f"{f.streamed} calls, {f.lost} lost" + (f", {f.failed} failed" if f.failed else ""),
            )
        )
        p99_ms = ms(f.judged_latencies_s, 99)
        reading = " (chunk's newest frame)" if f.chunked else ""
        verdicts.append(
            Verdict(
                p99_ms < TARGET_P99_MS,
                f"{name}: p99 < {TARGET_P99_MS:g} ms{reading}",
                f"{p99_ms:.2f} ms",
            )
        )
    return verdicts
