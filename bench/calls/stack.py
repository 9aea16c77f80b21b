"""The services under load, each its own process so the media service's CPU and memory can be read alone.

`ServiceProcess` starts one service with its ``CALLBRIDGE_*`` environment and a log file, and stops it on
exit (SIGTERM, then SIGKILL after a grace period), whatever ended the benchmark. `read_process` reads CPU
time and RSS from /proc; `create_calls`, `wait_healthy` and `scrape_metrics` talk to the services over HTTP
on 127.0.0.1 only.
"""

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

# Fixed secrets of the throwaway stack this benchmark starts on 127.0.0.1 and stops again.
API_KEY = "bench-calls-api-key-0123456789"
SECRET_KEY = "bench-calls-secret-key-0123456789-0123456789"  # noqa: S105 - see above
HEALTH_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
CREATE_CONCURRENCY = 8
JOIN_TIMEOUT = "600s"  # calls are created before the load starts; the join URLs must outlive the set-up

_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_METRIC_LINE = re.compile(r"^(callbridge_media_[a-z_]+)(?:\{[^}]*\})? ([-+0-9.eE]+|NaN)$", re.MULTILINE)


class BenchSetupError(Exception):
    """A service did not start, or refused to create the calls."""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    at_s: float
    user_s: float
    system_s: float
    """CPU time in the kernel on the process's behalf: its system calls, here mostly loopback TCP."""
    rss_bytes: int

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s


def read_process(pid: int) -> ProcessSample:
    """User + system CPU time of every thread of ``pid`` (/proc/<pid>/stat) and its resident set."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces; fields 3.. follow ")"
    user_ticks, system_ticks = int(fields[11]), int(fields[12])  # utime and stime, fields 14, 15 of proc(5)
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return ProcessSample(
        time.monotonic(),
        user_ticks / _CLOCK_TICKS_PER_S,
        system_ticks / _CLOCK_TICKS_PER_S,
        rss_pages * _PAGE_BYTES,
    )


def read_machine_idle_s() -> float:
    """Idle time of all CPUs together, iowait included (/proc/stat's first line, proc(5)).

    The busy fields are not used: under this VM's tickless accounting they add up to less than the CPU time
    the processes are charged (measured: 394 ticks busy against 453 charged over 4 s); elapsed time times
    the CPUs, minus idle, agrees with the processes' sum."""
    idle, iowait = (int(field) for field in Path("/proc/stat").read_text().split(maxsplit=6)[4:6])
    return (idle + iowait) / _CLOCK_TICKS_PER_S


def read_children_cpu_s(exclude: int) -> dict[int, float]:
    """CPU time of each running child of this process but ``exclude``: NATS and webhooks (and py-spy)."""
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        pids.update(int(pid) for pid in children.read_text().split())
    times: dict[int, float] = {}
    for pid in pids - {exclude}:
        try:
            times[pid] = read_process(pid).cpu_s
        except (FileNotFoundError, ProcessLookupError):  # it exited between the listing and the read
            continue
    return times


class ServiceProcess:
    """One service as a child process; a context manager that always stops it."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self._command = list(command)
        self._env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def exited(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "ServiceProcess":
        with self.log_path.open("wb") as log:
            # Its own session: a Ctrl-C reaches the benchmark alone, which then stops the services in order.
            self._process = subprocess.Popen(
                self._command, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)


def python_command(code: str) -> list[str]:
    """Run ``code`` with this interpreter: the services' console scripts need the virtualenv on PATH."""
    return [sys.executable, "-c", code]


def media_env(nats_url: str, port: int, max_calls: int) -> dict[str, str]:
    return {
        "CALLBRIDGE_NATS_URL": nats_url,
        "CALLBRIDGE_SECRET_KEY": SECRET_KEY,
        "CALLBRIDGE_MEDIA_HOST": "127.0.0.1",
        "CALLBRIDGE_MEDIA_PORT": str(port),
        "CALLBRIDGE_LOG_LEVEL": "WARNING",
        "CALLBRIDGE_MAX_CALLS": str(max_calls),
        "CALLBRIDGE_DRAIN_TIMEOUT_S": "3",  # calls have ended by then; never hang on SIGTERM
    }


def webhooks_env(nats_url: str, port: int, media_port: int) -> dict[str, str]:
    return {
        "CALLBRIDGE_NATS_URL": nats_url,
        "CALLBRIDGE_SECRET_KEY": SECRET_KEY,
        "CALLBRIDGE_API_KEY": API_KEY,
        "CALLBRIDGE_HOST": "127.0.0.1",
        "CALLBRIDGE_PORT": str(port),
        "CALLBRIDGE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "CALLBRIDGE_MEDIA_PUBLIC_URL": f"ws://127.0.0.1:{media_port}",
        "CALLBRIDGE_LOG_LEVEL": "WARNING",
    }


async def wait_healthy(client: httpx.AsyncClient, url: str, service: ServiceProcess) -> None:
    """Poll ``url`` until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.exited() is not None:
            raise BenchSetupError(f"{service.name} exited with {service.exited()}:\n{service.log_tail()}")
        try:
            if (await client.get(url, timeout=2.0)).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        await asyncio.sleep(0.1)
    raise BenchSetupError(f"{service.name} not healthy after {HEALTH_TIMEOUT_S} s:\n{service.log_tail()}")


async def create_calls(
    client: httpx.AsyncClient,
    webhooks_url: str,
    mediums: Sequence[dict[str, Any]],
    agent_rate_hz: int,
    *,
    first_speaker: dict[str, Any] | None = None,
) -> list[str]:
    """``POST /api/calls`` once per medium with the echo agent (and ``firstSpeakerSettings``, if given);
    return the join URLs, in that order."""
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def create_one(medium: dict[str, Any]) -> str:
        body = {
            "agentBackend": {"echo": {"sampleRate": agent_rate_hz}},
            "joinTimeout": JOIN_TIMEOUT,
            "medium": medium,
        }
        if first_speaker is not None:
            body["firstSpeakerSettings"] = first_speaker
        async with limit:
            response = await client.post(
                f"{webhooks_url}/api/calls", json=body, headers={"X-API-Key": API_KEY}, timeout=10.0
            )
        if response.status_code != 201:
            raise BenchSetupError(f"POST /api/calls: {response.status_code} {response.text[:300]}")
        join_url = response.json().get("joinUrl")
        if not isinstance(join_url, str):
            raise BenchSetupError(f"POST /api/calls answered without a joinUrl: {response.text[:300]}")
        return join_url

    return list(await asyncio.gather(*(create_one(medium) for medium in mediums)))


async def scrape_metrics(client: httpx.AsyncClient, media_http_url: str) -> dict[str, float]:
    """The media service's ``callbridge_media_*`` samples, summed over labels."""
    response = await client.get(f"{media_http_url}/metrics", timeout=2.0)
    response.raise_for_status()
    values: dict[str, float] = {}
    for name, value in _METRIC_LINE.findall(response.text):
        values[name] = values.get(name, 0.0) + float(value)
    return values
