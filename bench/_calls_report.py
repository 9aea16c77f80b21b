"""The figures of one load run and how they are printed, with a PASS/FAIL line per target of the issue."""

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from callbridge.devkit.simulators.twilio_wire import FRAME_SAMPLES

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_client import CallResult
    from bench._calls_profile import ProfileSummary
else:
    from _calls_client import CallResult
    from _calls_profile import ProfileSummary

# The targets: 200 concurrent calls in one media process with no lost frame and p99 under 20 ms,
# at most 4 ms of media-process CPU per call-second.
TARGET_CALLS = 200
TARGET_P99_MS = 20.0
TARGET_CPU_MS_PER_CALL_S = 4.0
CLIENT_BUSY_WARNING = 0.8  # of one core: above this the load generator may be what limits the figures
MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Window:
    """The steady-state window: all calls streaming, ramp-up and teardown excluded."""

    seconds: float
    media_cpu_s: float
    media_system_s: float
    client_cpu_s: float
    idle_rss_bytes: int
    steady_rss_bytes: int
    lag_s: list[float]
    active_calls: list[float]


@dataclass(slots=True)
class LoadRun:
    calls_requested: int
    duration_s: float
    agent_rate_hz: int
    client: str
    setup: str
    window: Window
    results: list[CallResult]
    dropped_frames_metric: float | None = None
    profile: ProfileSummary | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool | None
    """None: not judged by this run."""
    target: str
    measured: str


def _ms(values: npt.NDArray[np.float64], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values.size else math.nan


def _spread(values: npt.NDArray[np.float64]) -> str:
    return f"p50 {_ms(values, 50):.2f} ms, p99 {_ms(values, 99):.2f} ms, max {_ms(values, 100):.2f} ms"


def _row(label: str, value: str) -> str:
    return f"{label:<31}{value}"


def format_run(run: LoadRun) -> tuple[str, list[Verdict]]:
    """The report's text and the verdict on each target."""
    results = run.results
    streamed = [r for r in results if r.frames_sent > 0]
    failed = [r for r in results if r.error is not None]
    frames_sent = sum(r.frames_sent for r in results)
    echo_bytes = sum(sum(r.echo_bytes) for r in results)
    lost = frames_sent - echo_bytes // FRAME_SAMPLES
    latencies = np.array([lat for r in streamed for lat in r.echo_latencies_s()], dtype=np.float64)
    lateness = np.array([late for r in streamed for late in r.send_lateness_s], dtype=np.float64)
    window = run.window
    call_seconds = len(streamed) * window.seconds
    cpu_ms_per_call_s = 1000 * window.media_cpu_s / call_seconds if call_seconds else math.nan
    system_ms_per_call_s = 1000 * window.media_system_s / call_seconds if call_seconds else math.nan
    client_ms_per_call_s = 1000 * window.client_cpu_s / call_seconds if call_seconds else math.nan
    rss_per_call_mb = (window.steady_rss_bytes - window.idle_rss_bytes) / MB / max(1, len(streamed))
    media_busy = window.media_cpu_s / window.seconds
    client_busy = window.client_cpu_s / window.seconds
    violations = sum(r.violations for r in results)
    first_violation = next((r.first_violation for r in results if r.first_violation), None)
    p99_ms = _ms(latencies, 99)

    lines = [
        f"callbridge load benchmark: {run.calls_requested} Twilio calls x {run.duration_s:g} s through one "
        f"media process, echo agent at {run.agent_rate_hz} Hz, {run.client} load client",
        f"  {run.setup}",
        f"  steady-state window: {window.seconds:.1f} s, every call streaming (ramp-up, teardown excluded)",
        _row("calls", f"{len(streamed)} streamed, {len(failed)} failed")
        + (f" (first: {failed[0].error})" if failed else ""),
        _row("duration", f"{run.duration_s:g} s of media per call"),
        _row("frames sent", f"{frames_sent}"),
        _row("echo frames received", f"{echo_bytes / FRAME_SAMPLES:.10g}"),
        _row("lost frames", f"{lost}"),
        _row(
            "provider-frame->echo latency",
            f"{_spread(latencies)} ({latencies.size} echoes)",
        ),
        _row(
            "media CPU per call-second",
            f"{cpu_ms_per_call_s:.2f} ms ({system_ms_per_call_s:.2f} of it in the kernel; "
            f"{100 * media_busy:.0f} % of one core for {len(streamed)} calls)",
        ),
        _row(
            "media RSS per call",
            f"{rss_per_call_mb:.3f} MB (idle {window.idle_rss_bytes / MB:.1f} MB, "
            f"steady {window.steady_rss_bytes / MB:.1f} MB)",
        ),
        _row(
            "media event-loop lag",
            f"mean {_mean_ms(window.lag_s):.1f} ms, max {_max_ms(window.lag_s):.1f} ms "
            f"({len(window.lag_s)} samples of callbridge_media_event_loop_lag_seconds)",
        ),
        _row(
            "media frames dropped",
            f"{_count(run.dropped_frames_metric)} (callbridge_media_frames_dropped_total)",
        ),
        _row("media active calls (window)", f"{_range(window.active_calls)} (callbridge_media_active_calls)"),
        _row(
            "load generator CPU",
            f"{100 * client_busy:.0f} % of one core ({client_ms_per_call_s:.2f} ms per call-second)",
        ),
        _row(
            "load generator send lateness",
            _spread(lateness),
        ),
        _row(
            "protocol",
            f"{sum(r.marks_received for r in results)} marks received, "
            f"{sum(r.marks_echoed for r in results)} echoed; {violations} violations"
            + (f" (first: {first_violation})" if first_violation else ""),
        ),
    ]
    if client_busy > CLIENT_BUSY_WARNING:
        lines.append(
            f"  note: the load generator was {100 * client_busy:.0f} % busy: "
            "its own lateness may be part of the latency"
        )
    lines.extend(f"  note: {note}" for note in run.notes)

    # Below the target's call count the count-dependent targets are not judged: CPU per call-second falls
    # as load grows (the loop's fixed cost per wake-up is shared by more messages), so a small run says
    # little about 200 calls.
    at_scale = run.calls_requested >= TARGET_CALLS
    verdicts = [
        Verdict(
            (lost == 0 and not failed and len(streamed) >= TARGET_CALLS) if at_scale else None,
            f"{TARGET_CALLS} concurrent calls with no lost frame",
            f"{len(streamed)} calls, {lost} lost",
        ),
        Verdict(
            p99_ms < TARGET_P99_MS, f"p99 provider-frame->echo < {TARGET_P99_MS:g} ms", f"{p99_ms:.2f} ms"
        ),
        Verdict(
            cpu_ms_per_call_s <= TARGET_CPU_MS_PER_CALL_S if at_scale else None,
            f"media CPU <= {TARGET_CPU_MS_PER_CALL_S:g} ms per call-second",
            f"{cpu_ms_per_call_s:.2f} ms",
        ),
    ]
    for verdict in verdicts:
        label = {True: "PASS", False: "FAIL", None: "----"}[verdict.passed]
        unjudged = f" (not judged below {TARGET_CALLS} calls)" if verdict.passed is None else ""
        lines.append(f"{label}  {verdict.target:<44} {verdict.measured}{unjudged}")
    lines.append("----  decode + resample <= 10 us per 20 ms frame: measured by bench/bench_audio.py")
    return "\n".join(lines), verdicts


def _mean_ms(values: list[float]) -> float:
    return 1000 * statistics.fmean(values) if values else math.nan


def _max_ms(values: list[float]) -> float:
    return 1000 * max(values) if values else math.nan


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _range(values: list[float]) -> str:
    if not values:
        return "n/a"
    low, high = min(values), max(values)
    return f"{low:.0f}" if low == high else f"{low:.0f}-{high:.0f}"
