"""A scripted agent for end-to-end tests: a real WebSocket server speaking the serverWebSocket protocol."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve

from callbridge.devkit.nats_server import free_port


@dataclass
class AgentPeer:
    """One connection from callbridge, as the agent sees it."""

    connection: ServerConnection
    headers: dict[str, str]
    audio_in: bytearray = field(default_factory=bytearray)
    messages: list[dict[str, Any]] = field(default_factory=list)
    message_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    audio_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_audio(self, pcm: bytes) -> None:
        await self.connection.send(pcm)

    async def send_message(self, message: dict[str, Any]) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def wait_for_audio(self, min_bytes: int = 1, timeout_s: float = 5.0) -> None:
        """Wait until callbridge has sent at least ``min_bytes`` of caller audio (the call is live)."""
        async with asyncio.timeout(timeout_s):
            while len(self.audio_in) < min_bytes:
                self.audio_arrived.clear()
                await self.audio_arrived.wait()

    async def wait_for_audio_ending(self, tail: bytes, timeout_s: float = 5.0) -> None:
        """Wait until the caller audio received so far ends with ``tail`` (a barrier: everything callbridge
        forwarded before it has arrived)."""
        async with asyncio.timeout(timeout_s):
            while not self.audio_in.endswith(tail):
                self.audio_arrived.clear()
                await self.audio_arrived.wait()

    async def wait_for_message(self, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                for message in self.messages:
                    if message.get("type") == kind:
                        return message
                self.message_arrived.clear()
                await self.message_arrived.wait()


Script = Callable[[AgentPeer], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Said:
    """A ``forced_agent_message`` the agent said, and where the caller's audio was when it came: seconds of
    caller audio received by then (a clock that runs with the caller's own, from the stream's start)."""

    content: str
    at_s: float


async def say_forced_messages(
    peer: AgentPeer, speech: bytes, said: list[Said], *, input_rate_hz: int = 16000
) -> None:
    """Say every ``forced_agent_message`` with ``speech`` (s16le at the agent's output rate), at once,
    and note it in ``said``. Runs until the connection closes (a script's background task)."""
    seen = 0
    while True:
        peer.message_arrived.clear()
        while seen < len(peer.messages):
            message = peer.messages[seen]
            seen += 1
            if message.get("type") == "forced_agent_message":
                said.append(Said(str(message.get("content")), len(peer.audio_in) / 2 / input_rate_hz))
                await peer.send_audio(speech)
        await peer.message_arrived.wait()


@contextlib.asynccontextmanager
async def agent_server(
    script: Script | None = None, *, echo: bool = False, echo_when: asyncio.Event | None = None
) -> AsyncIterator[tuple[str, list[AgentPeer]]]:
    """Serve a scripted agent on a free port; yields its ws:// URL and the peers that connected. It echoes
    the caller's audio with ``echo``, or while ``echo_when`` is set."""
    peers: list[AgentPeer] = []

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        peer = AgentPeer(connection, dict(connection.request.headers.raw_items()))
        peers.append(peer)
        runner: asyncio.Task[None] | None = None
        if script is not None:
            runner = asyncio.create_task(_run(script, peer))
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    peer.audio_in += message
                    peer.audio_arrived.set()
                    if echo or (echo_when is not None and echo_when.is_set()):
                        await connection.send(message)
                else:
                    peer.messages.append(orjson.loads(message))
                    peer.message_arrived.set()
        finally:
            if runner is not None:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner

    async def _run(script: Script, peer: AgentPeer) -> None:
        await script(peer)

    port = free_port()
    async with serve(handler, "127.0.0.1", port, compression=None):
        yield f"ws://127.0.0.1:{port}/agent", peers
