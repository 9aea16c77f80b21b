"""One load run: start the services, create the calls, drive them (lean client or simulator), measure.

``run_once`` is one complete run with its own NATS, media and webhooks processes, stopped again however
the run ends; __main__.py chooses the options and prints the report.
"""

import asyncio
import contextlib
import importlib.util
import math
import os
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.calls import drive, profiling, report
from bench.calls import providers as catalog
from bench.calls import stack as services
from bench.calls import watch as watching
from bench.calls.providers import FRAME_MS
from callbridge.devkit.nats_server import NatsServer, free_port
from callbridge.devkit.simulators.caller_audio import CallerAudio

T = TypeVar("T")

FRAME_S = FRAME_MS / 1000
PROFILER_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class Options:
    calls: int
    duration_s: float
    agent_rate_hz: int
    client: str
    profile: bool
    profile_out: Path | None
    pin: bool
    providers: tuple[str, ...] = catalog.NAMES
    per_provider_cpu: bool = False
    listening: bool = False
    """Every call waits for its caller to speak first (``firstSpeakerSettings.user``, no fallback): media's
    speech detector scores the caller's audio for the whole call, its worst case. The echo is held back
    until the detector hears speech, so frames are lost by design; the CPU figures are what this is for."""

    @property
    def warmup_s(self) -> float:
        return 2.0 if self.duration_s >= 10 else 1.0

    @property
    def cooldown_s(self) -> float:
        return 1.0 if self.duration_s >= 10 else 0.5


def run_once(options: Options, py_spy: str | None) -> report.LoadRun:
    """One run on services of its own, stopped when it ends; raises BenchSetupError when it cannot run."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp, contextlib.ExitStack() as stack:
        return _run_stack(options, py_spy, Path(tmp), stack)


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
        # Undone when the run ends: the next run's NATS and webhooks would inherit CPU 1 alone, and crowd
        # the load generator there (seen as 30 ms of added echo latency on the run after the first).
        stack.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
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
    names = options.providers
    providers = [catalog.PROVIDERS[names[index % len(names)]] for index in range(options.calls)]
    # Media sends Exotel's echo in whole chunks only: a frame count in whole chunks lets every frame return.
    chunk_frames = math.lcm(*(provider.echo_chunk_frames for provider in providers))
    total_frames = -(-round(options.duration_s / FRAME_S) // chunk_frames) * chunk_frames
    payloads = {name: catalog.caller_payloads(catalog.PROVIDERS[name], total_frames) for name in names}
    async with httpx.AsyncClient() as http:
        await services.wait_healthy(http, f"{webhooks_url}/healthz", webhooks)
        await services.wait_healthy(http, f"{media_url}/healthz", media)
        join_urls = await services.create_calls(
            http,
            webhooks_url,
            [provider.medium for provider in providers],
            options.agent_rate_hz,
            first_speaker={"user": {}} if options.listening else None,
        )
        idle_rss = services.read_process(media.pid).rss_bytes
        notes: list[str] = []
        with contextlib.ExitStack() as profiler_stack:
            offsets_s = (options.warmup_s, options.duration_s - options.cooldown_s)
            spy = (py_spy, options.profile_out or tmp / "py-spy.txt", tmp / "py-spy.log") if py_spy else None
            watch = watching.SteadyStateWatch(
                http, media_url, media, idle_rss, offsets_s, spy, profiler_stack
            )
            if options.client == "lean":
                planned = [
                    drive.PlannedCall(url, provider, payloads[provider.name])
                    for url, provider in zip(join_urls, providers, strict=True)
                ]
                results = await drive.run_lean(planned, total_frames, options.duration_s, watch, notes)
            else:
                audio = CallerAudio.from_pcm(catalog.speech_like_pcm(total_frames * FRAME_S, 8000))
                results = await drive.run_simulator(join_urls, audio, options.duration_s, watch, notes)
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
        rates_hz={name: catalog.PROVIDERS[name].codec.sample_rate_hz for name in names},
        dropped_frames_metric=dropped,
        profile=profile,
        notes=notes,
    )


def _run_event_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # uvloop is a media dependency; without it the figures are of asyncio's own loop
        return asyncio.run(coroutine)
    result: T = uvloop.run(coroutine)
    return result
