"""A real three-server NATS JetStream cluster for tests that need replicated streams (R3 cannot be created
on one server). Each server is its own ``nats-server`` process with a config file naming the others as
cluster routes; ready once JetStream has a meta leader that can place three replicas."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import nats
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from callbridge.devkit.nats_server import READY_LINE, START_TIMEOUT_S, free_port

SIZE = 3
READY_TIMEOUT_S = 30.0
"""Three servers electing a JetStream meta leader: a few seconds, more on a busy machine."""


class NatsCluster:
    def __init__(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("nats-server not found: install the Debian package 'nats-server'")
        self._binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="callbridge-nats-cluster-")
        # Route ports must be known before any server starts (each names the others): chosen free here.
        self.client_ports = [free_port() for _ in range(SIZE)]
        self._route_ports = [free_port() for _ in range(SIZE)]
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    def start(self) -> None:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self._route_ports)
        for index in range(SIZE):
            folder = Path(self._tmp.name) / f"n{index}"
            folder.mkdir()
            config = folder / "nats.conf"
            config.write_text(
                f"server_name: n{index}\n"
                f"listen: 127.0.0.1:{self.client_ports[index]}\n"
                f'jetstream {{ store_dir: "{folder / "js"}" }}\n'
                f"cluster {{ name: callbridge-test, listen: 127.0.0.1:{self._route_ports[index]}, "
                f"routes: [{routes}] }}\n"
            )
            self._processes.append(
                subprocess.Popen(
                    [self._binary, "-c", str(config), "-l", str(folder / "nats.log")],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        for index in range(SIZE):
            self._wait_for_log(index, READY_LINE, START_TIMEOUT_S)

    def _wait_for_log(self, index: int, line: str, timeout_s: float) -> None:
        log = Path(self._tmp.name) / f"n{index}" / "nats.log"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._processes[index].poll() is not None:
                raise RuntimeError(f"nats-server n{index} exited: {log.read_text()}")
            if log.exists() and line in log.read_text():
                return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server n{index}: no {line!r} after {timeout_s} s")

    async def wait_replicated(self) -> None:
        """Until the cluster places a three-replica stream (its meta leader elected, every peer known)."""
        client = await nats.connect(servers=self.urls, connect_timeout=5)
        try:
            js = client.jetstream()
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                try:
                    probe = StreamConfig(name="cluster-probe", subjects=["probe"], num_replicas=SIZE)
                    await js.add_stream(probe)
                    await js.delete_stream("cluster-probe")
                    return
                except (APIError, nats.errors.TimeoutError) as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the cluster cannot place 3 replicas: {exc}") from exc
                await asyncio.sleep(0.1)  # the interval between polls of the condition
        finally:
            await client.close()

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._tmp.cleanup()

    def __enter__(self) -> NatsCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
