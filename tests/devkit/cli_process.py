"""`callbridge` run as a user runs it: a real process in its own process group, its output read line by line.

A terminal sends Ctrl-C as SIGINT to its whole foreground process group, so ``interrupt`` signals the group,
not just the process: whatever callbridge started in that group gets the signal too.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
UP_LINE = "callbridge is up"


class CallbridgeProcess:
    """``python -m callbridge.devkit.cli ARGS`` with stdout and stderr merged and collected."""

    def __init__(self, args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None):
        self.cwd = cwd
        self.process = subprocess.Popen(
            [sys.executable, "-m", "callbridge.devkit.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,  # its own process group, as a shell gives a foreground job
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="callbridge-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float = START_TIMEOUT_S) -> str:
        """The first output line (from here on) containing ``pattern``; fails if the process ends first."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} within {timeout_s} s; output:\n{self.output}") from None
            if line is None:
                raise AssertionError(f"callbridge ended before {pattern!r}; output:\n{self.output}")
            self.lines.append(line)
            if pattern in line:
                return line

    def wait_up(self) -> str:
        return self.wait_for_line(UP_LINE)

    def interrupt(self) -> None:
        """Ctrl-C in a terminal: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._drain(timeout_s)
        return code

    def _drain(self, timeout_s: float) -> None:
        """Collect the rest of the output of the ended process."""
        self._reader.join(timeout=timeout_s)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)

    def kill(self) -> None:
        """Clean-up after a test: Ctrl-C, then SIGKILL to the group if that did not end it, and SIGKILL to
        any nats-server it left (one runs in its own session, out of the group's reach)."""
        if self.process.poll() is None:
            self.interrupt()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._drain(STOP_TIMEOUT_S)
        left = set(nats_servers_with(str(self.cwd))) if self.cwd is not None else set()
        if (match := NATS_URL.search(self.output)) is not None:
            left |= set(nats_servers_on(int(match.group(1))))
        for pid in left:
            os.kill(pid, signal.SIGKILL)


NATS_URL = re.compile(r"NATS \(JetStream\)\s+nats://[\d.]+:(\d+)")


def nats_port(output: str) -> int:
    """The private nats-server's port, from the start-up summary."""
    match = NATS_URL.search(output)
    assert match is not None, output
    return int(match.group(1))


def nats_servers_on(port: int) -> list[int]:
    """Pids of running nats-server processes listening on ``port`` (read from /proc: the listening socket's
    inode in /proc/net/tcp*, and the process holding it; the port is not in their arguments, they pick it)."""
    inodes = _listening_inodes(port)
    return [pid for pid in nats_servers_with("") if inodes & _socket_inodes(pid)]


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        try:
            rows = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    found: set[str] = set()
    try:
        links = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for link in links:
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def nats_servers_with(text: str, *, whole: bool = False) -> list[int]:
    """Pids of running nats-server processes with ``text`` in an argument (``whole``: as an argument)."""
    found: list[int] = []
    wanted = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"nats-server") and any(
            arg == wanted if whole else wanted in arg for arg in argv[1:]
        ):
            found.append(int(entry.name))
    return found
