"""Where the media process spends its CPU under load (``--profile``): py-spy if installed, cProfile otherwise.

py-spy attaches to the running media process for the steady-state window only and samples it without
pausing it (``--nonblocking``), so the figures beside it stay close to an unprofiled run; samples where
the thread sits idle in epoll are left out, so shares are of busy time. Time spent in C (numpy, orjson,
base64) is charged to the Python function that called it; time in uvloop's own loop (epoll, socket reads
and writes, timers, C task steps) has no Python frame above ``Runner.run``, so it shows there. py-spy's
``--native`` would split that further, but it must pause the process for every sample: tried at 200 Hz,
it held media's event loop up to 0.6 s and the echo latency rose to seconds, so it is not offered.
The user/system split of the media CPU in the report tells the kernel's (socket) share instead.
cProfile, the fallback,
must wrap the whole process (media has no switch to start it later), so it also counts set-up and
teardown, and its own overhead inflates cheap calls.
"""

import math
import pstats
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

PY_SPY_RATE_HZ = 200
STOP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class FunctionCost:
    function: str
    own: float
    total: float


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    source: str
    unit: str
    busy: float
    """Samples with a busy thread (py-spy) or seconds of profiled time (cProfile)."""
    expected: float | None
    """Samples the window would hold at 100 % CPU (py-spy only)."""
    rows: list[FunctionCost]


def find_py_spy() -> str | None:
    beside_python = Path(sys.executable).parent / "py-spy"
    return str(beside_python) if beside_python.exists() else shutil.which("py-spy")


def cprofile_media_code(output: Path) -> str:
    """``python -c`` code running the media service under cProfile; the stats are written on SIGTERM."""
    # CPU time, not cProfile's default wall clock: otherwise the loop's idle waits in epoll are charged to
    # whichever coroutine ran last (measured: 85 % "own time" in CallSession._finish).
    return (
        "import cProfile, time\n"
        "from callbridge.media.main import run\n"
        "profiler = cProfile.Profile(time.process_time)\n"
        "try:\n"
        "    profiler.runcall(run)\n"
        "finally:\n"
        f"    profiler.dump_stats({str(output)!r})\n"
    )


class PySpyRecorder:
    """``py-spy record`` on one process for a fixed time; a context manager that always stops it."""

    def __init__(self, binary: str, pid: int, duration_s: float, output: Path, log_path: Path) -> None:
        self.output = output
        # Whole seconds (py-spy takes no fractions), rounded down so that sampling stays inside the window.
        self.duration_s = max(1, math.floor(duration_s))
        self.log_path = log_path
        self._command = [
            binary, "record", "--pid", str(pid), "--duration", str(self.duration_s),
            "--rate", str(PY_SPY_RATE_HZ), "--nolineno", "--format", "raw", "--output", str(output),
            "--nonblocking",
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "PySpyRecorder":
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(self._command, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_GRACE_S)

    def summary(self, wait_s: float) -> ProfileSummary:
        """Wait for py-spy to finish writing, then rank functions; raise RuntimeError if it failed."""
        if self._process is None:
            raise RuntimeError("py-spy was not started")
        try:
            self._process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"py-spy did not finish within {wait_s:.0f} s") from None
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {self.log_path.read_text(errors='replace')[-800:]}")
        rows, busy = costs_from_collapsed(self.output.read_text().splitlines())
        return ProfileSummary("py-spy", "samples", busy, self.duration_s * PY_SPY_RATE_HZ, rows)


def costs_from_collapsed(lines: list[str]) -> tuple[list[FunctionCost], int]:
    """Own (leaf) and total (anywhere on the stack) samples per function from py-spy's raw output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    rows = [FunctionCost(name, own[name], total[name]) for name in total]
    rows.sort(key=lambda row: (row.own, row.total), reverse=True)
    return rows, samples


def cprofile_summary(path: Path) -> ProfileSummary:
    """Own (tottime) and total (cumtime) seconds per function from a cProfile stats file."""
    stats = pstats.Stats(str(path))
    rows = []
    busy = 0.0
    # pstats keeps its table in an attribute typeshed leaves out:
    # (file, line, name) -> (primitive calls, calls, tottime, cumtime, callers)
    table: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    table = stats.stats  # type: ignore[attr-defined]
    for (file, line, name), (_, _, own_s, total_s, _) in table.items():
        busy += own_s
        rows.append(FunctionCost(f"{name} ({_short(file)}:{line})", own_s, total_s))
    rows.sort(key=lambda row: (row.own, row.total), reverse=True)
    return ProfileSummary("cProfile (whole process life)", "s", busy, None, rows)


def format_profile(summary: ProfileSummary, top: int) -> str:
    busy = summary.busy or 1.0
    header = f"media process profile by {summary.source}: top {top} functions by own time"
    if summary.expected:
        header += (
            f"\n  {summary.busy:.0f} busy samples of {summary.expected:.0f} at {PY_SPY_RATE_HZ} Hz "
            f"(~{100 * summary.busy / summary.expected:.0f} % of one core); shares are of busy samples"
        )
    else:
        header += (
            f"\n  {summary.busy:.1f} s of CPU profiled; cProfile's cost per call inflates small functions"
        )
    lines = [header, f"  {'own %':>6} {'total %':>8}  function"]
    for row in summary.rows[:top]:
        lines.append(f"  {100 * row.own / busy:6.1f} {100 * row.total / busy:8.1f}  {row.function}")
    return "\n".join(lines)


def _short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
