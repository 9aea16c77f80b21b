"""Media replicas as real OS processes behind one join address, for the drain and kill tests.

``MediaProcess`` runs ``callbridge-media`` in a process of its own (port 0: it logs the port it bound).
``JoinRouter`` is the balancer in front of them, as a Kubernetes Service or an ingress is: a TCP proxy on one
port that hands each new connection to the next replica in turn, and to the other one when a replica
refuses it (a draining replica has closed its listener).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
_LISTENING = re.compile(r"listening on ws://[^:]+:(\d+)")


class MediaProcess:
    """``callbridge-media`` in a process of its own; its log lines (JSON) are kept as they come."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.replica = f"media-{name}"
        """What its events call it (``mediaReplica``)."""
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.messages: list[str] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from callbridge.media.main import run; run()",
            env={
                **os.environ,
                **self._env,
                "CALLBRIDGE_INSTANCE_ID": self.name,
                "CALLBRIDGE_MEDIA_HOST": "127.0.0.1",
                "CALLBRIDGE_MEDIA_PORT": "0",
                "CALLBRIDGE_LOG_LEVEL": "INFO",
                "CALLBRIDGE_LOG_FORMAT": "json",
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.process), name=f"{self.name}-log")
        listening = await self.wait_for_log(f"media {self.replica} listening on", READY_TIMEOUT_S)
        found = _LISTENING.search(listening)
        assert found is not None, listening
        self.port = int(found[1])

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            try:
                message = str(json.loads(line)["message"])
            except (ValueError, KeyError, TypeError):
                message = line.decode(errors="replace").rstrip()
            self.messages.append(message)
            self._changed.set()

    async def wait_for_log(self, fragment: str, timeout_s: float) -> str:
        """The first log message containing ``fragment``, once it is written."""
        async with asyncio.timeout(timeout_s):
            while True:
                found = next((m for m in self.messages if fragment in m), None)
                if found is not None:
                    return found
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited: {self.messages[-20:]}")
                self._changed.clear()
                await self._changed.wait()

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        assert self.process.returncode is None
        self.process.send_signal(sig)

    async def wait(self, timeout_s: float) -> int:
        """Its exit status, once it has exited."""
        assert self.process is not None
        async with asyncio.timeout(timeout_s):
            code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self) -> None:
        """Stop it if it still runs (SIGTERM, then SIGKILL after STOP_TIMEOUT_S)."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.wait(STOP_TIMEOUT_S)
            except TimeoutError:
                self.process.kill()
        await self.process.wait()
        if self._reader is not None:
            await self._reader


@dataclass
class JoinRouter:
    """A TCP proxy in front of the media replicas: each connection to the next replica in turn, or the
    next one that takes it. ``landed`` says where each went; ``refused`` counts the replicas that refused."""

    backends: list[tuple[str, int]] = field(default_factory=list)
    landed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> JoinRouter:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        if self._pipes:
            await asyncio.wait(self._pipes, timeout=5)
        await self._server.wait_closed()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        first = next(self._turn)
        for offset in range(len(self.backends)):
            name, port = self.backends[(first + offset) % len(self.backends)]
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
            except OSError:
                self.refused.append(name)
                continue
            self.landed.append(name)
            pipes = [
                asyncio.create_task(_pipe(client_reader, writer), name=f"router-to-{name}"),
                asyncio.create_task(_pipe(reader, client_writer), name=f"router-from-{name}"),
            ]
            self._pipes.update(pipes)
            try:
                await asyncio.wait(pipes)
            finally:
                self._pipes.difference_update(pipes)
            return
        client_writer.close()  # nobody took it


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or a reset; then close the other side too, as a proxy passes a close on."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            # A reset (a killed replica) is passed on as a reset: no orderly FIN the peer could mistake
            # for a close it was sent.
            if reader.at_eof():
                writer.close()
            else:
                writer.transport.abort()
