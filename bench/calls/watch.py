"""The steady-state window: the media process's CPU, RSS, loop lag and calls, and the load generator's CPU.

The window runs from ``t0 + warm-up`` to ``t0 + duration - cool-down``, where t0 is when the first frame
of the first call is due: every call is streaming for all of it, so the connects, the `start` handling and
the hang-ups are outside. CPU is read from /proc at both ends (10 ms ticks: under 0.1 % of a 17 s window at
70 % load); /metrics and RSS are read once a second in between, which costs media well under 1 % of it.
The machine's CPU time (/proc/stat) and that of NATS and webhooks are read at both ends too: what is left
is other processes', which on a shared machine preempt media and the load generator and show in the tail.
"""

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx

from bench.calls import profiling, report
from bench.calls import stack as services

SAMPLE_EVERY_S = 1.0


class SteadyStateWatch:
    """Measures one window; with ``py_spy`` set it also profiles media over it (stopped by ``stack``)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        media_url: str,
        media: services.ServiceProcess,
        idle_rss: int,
        offsets_s: tuple[float, float],
        py_spy: tuple[str, Path, Path] | None,
        stack: contextlib.ExitStack,
    ) -> None:
        """``offsets_s``: window start and end after t0; ``py_spy``: binary, output file, log file."""
        self.http, self.media_url, self.media = http, media_url, media
        self._idle_rss, self._offsets_s, self._py_spy, self._stack = idle_rss, offsets_s, py_spy, stack
        self.recorder: profiling.PySpyRecorder | None = None
        self.window: report.Window | None = None

    async def observe(self, t0: float) -> None:
        start_at, end_at = t0 + self._offsets_s[0], t0 + self._offsets_s[1]
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        if self._py_spy is not None:
            binary, output, log = self._py_spy
            self.recorder = self._stack.enter_context(
                profiling.PySpyRecorder(binary, self.media.pid, end_at - start_at, output, log)
            )
        media_before, client_before = services.read_process(self.media.pid), os.times()
        idle_before = services.read_machine_idle_s()
        children_before = services.read_children_cpu_s(exclude=self.media.pid)
        lag_s: list[float] = []
        active: list[float] = []
        steady_rss = media_before.rss_bytes
        while (remaining_s := end_at - time.monotonic()) > 0:
            await asyncio.sleep(min(SAMPLE_EVERY_S, remaining_s))
            metrics = await services.scrape_metrics(self.http, self.media_url)
            lag_s.append(metrics.get("callbridge_media_event_loop_lag_seconds", 0.0))
            active.append(metrics.get("callbridge_media_active_calls", 0.0))
            steady_rss = max(steady_rss, services.read_process(self.media.pid).rss_bytes)
        media_after, client_after = services.read_process(self.media.pid), os.times()
        idle_s = services.read_machine_idle_s() - idle_before
        children_after = services.read_children_cpu_s(exclude=self.media.pid)
        children_cpu_s = sum(
            cpu_s - children_before[pid] for pid, cpu_s in children_after.items() if pid in children_before
        )
        client_cpu_s = (client_after.user + client_after.system) - (client_before.user + client_before.system)
        seconds = media_after.at_s - media_before.at_s
        self.window = report.Window(
            seconds=seconds,
            media_cpu_s=media_after.cpu_s - media_before.cpu_s,
            media_system_s=media_after.system_s - media_before.system_s,
            client_cpu_s=client_cpu_s,
            services_cpu_s=children_cpu_s,
            machine_busy_s=max(0.0, seconds * (os.cpu_count() or 1) - idle_s),
            idle_rss_bytes=self._idle_rss,
            steady_rss_bytes=steady_rss,
            lag_s=lag_s,
            active_calls=active,
        )
