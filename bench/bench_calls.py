"""Load benchmark of the media service: concurrent Twilio calls to the echo agent through ONE media process.

Run: ``python bench/bench_calls.py [--calls 200] [--duration 20] [--agent-rate 16000]``; ``--quick`` is a
20-call, 5 s smoke run; ``--profile`` also samples the media process with py-spy (cProfile if py-spy is
not installed) and prints its top functions by own time.

Set-up: a real nats-server, then ``webhooks`` and ``media`` each as its own process, so the media
process's CPU (/proc/<pid>/stat) and RSS are its alone. The calls are created through ``POST /api/calls``
before the load starts. This process is the load generator: on 2+ cores the media process is pinned to
CPU 0 and the generator to CPU 1 (``--no-pin`` leaves both to the scheduler). Each call connects, sends
`connected` and `start`, then a 20 ms μ-law frame of a speech-like signal on its own absolute clock, the
calls' clocks spread over one 20 ms period; it plays the echo in real time and echoes each mark once its
audio has played, then drains, sends `stop` and closes. Only 127.0.0.1 is ever contacted.

Figures: the echo latency is the arrival of each echoed `media` message minus the send time of the
inbound frame its audio came from (matched by byte offset); lost frames are frames sent minus frames
echoed after the drain. CPU, RSS and load-generator CPU are read over the steady-state window only.

Why a lean load client (_calls_client.py) rather than the devkit's TwilioSimulator (``--client
simulator``): both speak the same protocol, but the simulator runs two tasks per call on a ``websockets``
connection and connects each call just before its first frame. Measured at 200 calls x 20 s, 16 kHz echo
(media on CPU 0, client on CPU 1): with the simulator the client measured itself, not media: echo p50 48 ms,
p99 313 ms, every call's sender once ~300 ms late, 2276 echoes still in flight at hang-up, client 58 % busy.
With the lean client on the same media: p50 0.7 ms, p99 1.8-3.0 ms, nothing lost, client 33 % busy.
Media's own CPU was the same under both (3.4-3.6 ms per call-second).

Exit status: 0 when no judged target fails, 1 when one does, 2 when the benchmark could not run.
"""

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import numpy as np
import numpy.typing as npt

from callbridge.devkit.nats_server import NatsServer, free_port
from callbridge.devkit.signals import multitone, to_int16
from callbridge.devkit.simulators.twilio import CallerAudio
from callbridge.devkit.simulators.twilio_wire import FRAME_S, SAMPLE_RATE_HZ

# Run as `python bench/bench_calls.py`, bench/ is on sys.path and the helpers are top-level modules; mypy,
# run from the repository root with explicit package bases, knows them as bench.<module>.
if TYPE_CHECKING:
    import bench._calls_client as load_client
    import bench._calls_profile as profiling
    import bench._calls_report as report
    import bench._calls_simclient as simclient
    import bench._calls_stack as services
    import bench._calls_watch as watching
else:
    import _calls_client as load_client
    import _calls_profile as profiling
    import _calls_report as report
    import _calls_simclient as simclient
    import _calls_stack as services
    import _calls_watch as watching

T = TypeVar("T")

CONNECT_CONCURRENCY = 32
CONNECT_TIMEOUT_S = 10.0
ACTIVE_TIMEOUT_S = 10.0
START_MARGIN_S = 0.5  # between the last `start` and the first frame
END_TIMEOUT_S = 15.0  # after the last frame is due: drain, stop and close must be over by then
TOP_FUNCTIONS = 25
PROFILER_WAIT_S = 30.0
SIMULATOR_START_MARGIN_S = 2.0


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    duration_s: float
    agent_rate_hz: int
    client: str
    profile: bool
    profile_out: Path | None
    pin: bool

    @property
    def warmup_s(self) -> float:
        return 2.0 if self.duration_s >= 10 else 1.0

    @property
    def cooldown_s(self) -> float:
        return 1.0 if self.duration_s >= 10 else 0.5


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="concurrent calls (default 200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of media per call (default 20)")
    parser.add_argument("--agent-rate", type=int, default=16000, choices=(8000, 16000, 24000, 48000))
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 calls for 5 s")
    parser.add_argument(
        "--client", choices=("lean", "simulator"), default="lean", help="load client (default lean)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the media process (py-spy, else cProfile)"
    )
    parser.add_argument(
        "--profile-out",
        metavar="FILE",
        help="with py-spy: keep its collapsed stacks (flamegraph.pl input) in FILE",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin media and load generator to CPUs")
    args = parser.parse_args(argv)
    calls, duration_s = (20, 5.0) if args.quick else (args.calls, args.duration)
    if not 1 <= calls <= 1000 or not 3.0 <= duration_s <= 600.0:
        parser.error("--calls must be 1..1000 and --duration 3..600 s")
    profile_out = Path(args.profile_out) if args.profile_out else None
    return Options(
        calls,
        duration_s,
        args.agent_rate,
        args.client,
        args.profile or profile_out is not None,
        profile_out,
        not args.no_pin,
    )


def speech_like_pcm(duration_s: float) -> npt.NDArray[np.int16]:
    """A 140 Hz voice's harmonics under a 4 Hz syllable envelope: μ-law work in every frame, never silence."""
    voice = multitone([140.0 * k for k in (1, 2, 3, 4, 5, 7, 9, 12, 17, 22)], duration_s, dbfs=-8.0)
    time_s = np.arange(voice.size) / SAMPLE_RATE_HZ
    envelope = 0.3 + 0.7 * np.abs(np.sin(np.pi * 4.0 * time_s))
    return to_int16(voice * envelope)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` cleans up as Ctrl-C does
    py_spy = profiling.find_py_spy() if options.profile else None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp, contextlib.ExitStack() as stack:
            run = _run_stack(options, py_spy, Path(tmp), stack)
    except KeyboardInterrupt:
        print("interrupted: services stopped", file=sys.stderr)
        return 130
    except services.BenchSetupError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 2
    text, verdicts = report.format_run(run)
    print(text)
    if run.profile is not None:
        print()
        print(profiling.format_profile(run.profile, TOP_FUNCTIONS))
    return 1 if any(verdict.passed is False for verdict in verdicts) else 0


def _run_stack(
    options: Options, py_spy: str | None, tmp: Path, stack: contextlib.ExitStack
) -> report.LoadRun:
    """Start NATS, media and webhooks (stopped by ``stack``), pin the CPUs, run the load."""
    nats = stack.enter_context(NatsServer())
    media_port, webhooks_port = free_port(), free_port()
    cprofile_path = tmp / "media.prof" if options.profile and py_spy is None else None
    media_code = "from callbridge.media.main import run; run()"
    if cprofile_path is not None:
        media_code = profiling.cprofile_media_code(cprofile_path)
    media = stack.enter_context(
        services.ServiceProcess(
            "media", services.python_command(media_code), services.media_env(nats.url, media_port, 1000), tmp
        )
    )
    webhooks = stack.enter_context(
        services.ServiceProcess(
            "webhooks",
            services.python_command("from callbridge.webhooks.main import run; run()"),
            services.webhooks_env(nats.url, webhooks_port, media_port),
            tmp,
        )
    )
    setup = "media and load generator share the CPUs (--no-pin)"
    if options.pin and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(media.pid, {0})
        os.sched_setaffinity(0, {1})
        setup = "media pinned to CPU 0, load generator to CPU 1"
    loop = "uvloop in both" if importlib.util.find_spec("uvloop") else "asyncio's loop in both (no uvloop)"
    setup += f"; Python {sys.version.split()[0]}, {loop}"
    stack_urls = (f"http://127.0.0.1:{webhooks_port}", f"http://127.0.0.1:{media_port}")
    try:
        run = _run_event_loop(_load(options, media, webhooks, stack_urls, setup, py_spy, tmp))
    except httpx.HTTPError as exc:  # a service stopped answering mid-run: its log says why
        raise services.BenchSetupError(
            f"{exc!r}\nmedia log:\n{media.log_tail()}\nwebhooks log:\n{webhooks.log_tail()}"
        ) from exc
    if cprofile_path is not None:
        media.stop()  # SIGTERM: media returns from run() and cProfile writes its stats
        run.profile = profiling.cprofile_summary(cprofile_path)
    return run


async def _load(
    options: Options,
    media: services.ServiceProcess,
    webhooks: services.ServiceProcess,
    urls: tuple[str, str],
    setup: str,
    py_spy: str | None,
    tmp: Path,
) -> report.LoadRun:
    webhooks_url, media_url = urls
    async with httpx.AsyncClient() as http:
        await services.wait_healthy(http, f"{webhooks_url}/healthz", webhooks)
        await services.wait_healthy(http, f"{media_url}/healthz", media)
        join_urls = await services.create_calls(http, webhooks_url, options.calls, options.agent_rate_hz)
        idle_rss = services.read_process(media.pid).rss_bytes
        total_frames = round(options.duration_s / FRAME_S)
        audio = CallerAudio.from_pcm(speech_like_pcm(total_frames * FRAME_S))
        notes: list[str] = []
        with contextlib.ExitStack() as profiler_stack:
            offsets_s = (options.warmup_s, options.duration_s - options.cooldown_s)
            spy = (py_spy, options.profile_out or tmp / "py-spy.txt", tmp / "py-spy.log") if py_spy else None
            watch = watching.SteadyStateWatch(
                http, media_url, media, idle_rss, offsets_s, spy, profiler_stack
            )
            if options.client == "lean":
                results = await _run_lean(options, join_urls, audio, total_frames, watch, notes)
            else:
                results = await _run_simulator(options, join_urls, audio, watch, notes)
            profile = None
            if watch.recorder is not None:
                try:
                    profile = await asyncio.to_thread(watch.recorder.summary, PROFILER_WAIT_S)
                except RuntimeError as exc:  # the load figures stand without the profile
                    notes.append(f"no profile: {exc}")
                notes.append(
                    "py-spy sampled media over the window without pausing it, from the load generator's CPU"
                )
        dropped = (await services.scrape_metrics(http, media_url)).get(
            "callbridge_media_frames_dropped_total"
        )
    if watch.window is None:
        raise services.BenchSetupError("the steady-state window was never measured")
    return report.LoadRun(
        calls_requested=options.calls,
        duration_s=options.duration_s,
        agent_rate_hz=options.agent_rate_hz,
        client=options.client,
        setup=setup,
        window=watch.window,
        results=results,
        dropped_frames_metric=dropped,
        profile=profile,
        notes=notes,
    )


async def _run_lean(
    options: Options,
    join_urls: list[str],
    audio: CallerAudio,
    total_frames: int,
    watch: watching.SteadyStateWatch,
    notes: list[str],
) -> list[load_client.CallResult]:
    payloads = [payload.encode("ascii") for payload in audio.payloads]
    failures: list[load_client.CallResult] = []
    calls = await _connect_all(join_urls, payloads, failures)
    try:
        for call in calls:
            call.start_stream()
        if not await _wait_active(watch.http, watch.media_url, len(calls)):
            notes.append(f"media never reported {len(calls)} active calls before the load")
        t0 = time.monotonic() + START_MARGIN_S
        for index, call in enumerate(calls):
            call.start_media(t0 + index * FRAME_S / len(calls), total_frames)
        await watch.observe(t0)
        await _wait_ended(calls, t0 + options.duration_s + END_TIMEOUT_S)
    finally:
        for call in calls:
            if not call.ended.done():
                call.abort("benchmark stopped")
    return [call.result for call in calls] + failures


async def _run_simulator(
    options: Options,
    join_urls: list[str],
    audio: CallerAudio,
    watch: watching.SteadyStateWatch,
    notes: list[str],
) -> list[load_client.CallResult]:
    t0 = (
        time.monotonic() + SIMULATOR_START_MARGIN_S
    )  # each simulated call connects just before its first frame
    async with asyncio.timeout(options.duration_s + SIMULATOR_START_MARGIN_S + END_TIMEOUT_S):
        tasks = [
            asyncio.create_task(
                simclient.simulated_call(
                    url, audio, t0 + index * FRAME_S / len(join_urls), options.duration_s
                ),
                name=f"simulated-call-{index}",
            )
            for index, url in enumerate(join_urls)
        ]
        await watch.observe(t0)
        results = list(await asyncio.gather(*tasks))
    notes.append("the simulator keeps only each call's largest send lateness: the p50/p99 are of those")
    return results


async def _connect_all(
    join_urls: list[str], payloads: list[bytes], failures: list[load_client.CallResult]
) -> list[load_client.TwilioLoadCall]:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(url: str) -> load_client.TwilioLoadCall | None:
        async with limit:
            try:
                return await load_client.open_call(url, payloads, CONNECT_TIMEOUT_S)
            except Exception as exc:  # refused, reset or timed out: counted as a failed call, the rest go on
                failures.append(load_client.CallResult(error=f"join failed: {type(exc).__name__}: {exc}"))
                return None

    opened = await asyncio.gather(*(connect(url) for url in join_urls))
    return [call for call in opened if call is not None]


async def _wait_active(http: httpx.AsyncClient, media_url: str, expected: int) -> bool:
    """Until media holds every call (its session running), so that the load starts on all of them at once."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        metrics = await services.scrape_metrics(http, media_url)
        if metrics.get("callbridge_media_active_calls", 0.0) >= expected:
            return True
        await asyncio.sleep(0.1)
    return False


async def _wait_ended(calls: list[load_client.TwilioLoadCall], deadline_s: float) -> None:
    pending = [call.ended for call in calls if not call.ended.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, deadline_s - time.monotonic()))


def _run_event_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # uvloop is a media dependency; without it the figures are of asyncio's own loop
        return asyncio.run(coroutine)
    result: T = uvloop.run(coroutine)
    return result


if __name__ == "__main__":
    sys.exit(main())
