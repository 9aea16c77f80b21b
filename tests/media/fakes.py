"""In-memory doubles for the media unit tests: a provider socket, an agent, an event publisher.

Each stands in for a peer a unit test does not need for real (the provider's WebSocket, the agent's, NATS
for the outbox); what they were sent is recorded, and a test waits on it rather than on time.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from callbridge.common.events import CallEvent
from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.wire import ServerMessage, StreamWire
from callbridge.media.agents.base import AgentConnection, AgentError, AgentListener

E = TypeVar("E", bound=CallEvent)


class FlakyPublisher:
    """An event publisher that fails its next ``failures_left`` attempts (as NATS does while away) and
    blocks while ``hold`` is clear (as a NATS that does not answer)."""

    def __init__(self) -> None:
        self.published: list[CallEvent] = []
        self.attempts = 0
        self.failures_left = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.waiting = asyncio.Event()
        """Set once an attempt is blocked on ``hold``."""
        self.changed = asyncio.Event()
        """Set whenever an event is published."""

    async def publish(self, event: CallEvent) -> None:
        self.attempts += 1
        if not self.hold.is_set():
            self.waiting.set()
            await self.hold.wait()
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("nats: no servers available")
        self.published.append(event)
        self.changed.set()

    async def wait_for(self, kind: type[E], timeout_s: float = 5.0) -> E:
        """The first published event of ``kind``, once it is published."""
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.published:
                    if isinstance(event, kind):
                        return event
                self.changed.clear()
                await self.changed.wait()

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.published if isinstance(event, kind)]


class FakeProviderSocket:
    """The media WebSocket as the session sees it, in memory: the test plays the provider through
    ``deliver`` and ``hang_up``, and reads what media sent in ``sent``."""

    def __init__(self) -> None:
        self._inbound: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.sent: list[str] = []
        self.changed = asyncio.Event()
        """Set whenever media sends or closes."""
        self.closed_with: tuple[int, str] | None = None
        self.on_send: Callable[[str], None] | None = None

    # -- the provider's side --

    def deliver(self, message: str | bytes) -> None:
        self._inbound.put_nowait(message)

    def hang_up(self) -> None:
        """The provider closes the socket without a word."""
        self._inbound.put_nowait(None)

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    # -- media's side (transport.ProviderSocket) --

    async def recv(self) -> str | bytes | None:
        if self.closed_with is not None and self._inbound.empty():
            return None
        return await self._inbound.get()

    async def send(self, message: str) -> bool:
        if self.closed_with is not None:
            return False
        self.sent.append(message)
        self.changed.set()
        if self.on_send is not None:
            self.on_send(message)
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed_with is None:
            self.closed_with = (code, reason)
            self._inbound.put_nowait(None)  # the close handshake: the session's read ends
            self.changed.set()

    @property
    def close_code(self) -> int | None:
        return None if self.closed_with is None else self.closed_with[0]


class FakeProvider:
    """A provider's end of one call's stream: its wire format (the devkit's, as the simulators speak it)
    over a :class:`FakeProviderSocket`, echoing each mark at once (as if its audio played instantly)
    unless ``echo_marks`` is off."""

    def __init__(self, wire: StreamWire, codec: AudioCodec) -> None:
        self.wire = wire
        self.codec = codec
        self.socket = FakeProviderSocket()
        self.socket.on_send = self._on_send
        self.read: list[ServerMessage] = []
        self.echo_marks = True
        self._chunk = 0

    def start(self) -> None:
        for message in self.wire.opening():
            self.socket.deliver(message)

    def send_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """``pcm`` at the stream's rate, in inbound media frames of 20 ms."""
        step = self.codec.sample_rate_hz // 50
        for start in range(0, len(pcm) - step + 1, step):
            self._chunk += 1
            payload = base64.b64encode(self.codec.encode(pcm[start : start + step]))
            self.socket.deliver(self.wire.media(self._chunk, payload))

    def dtmf(self, digit: str) -> None:
        self.socket.deliver(self.wire.dtmf(digit))

    def stop(self) -> None:
        stop = self.wire.stop()
        assert stop is not None
        self.socket.deliver(stop)

    @property
    def audio_frames(self) -> list[bytes]:
        """Each audio message media sent, in the stream's outbound encoding."""
        return [message.audio for message in self.read if message.audio is not None]

    def heard(self) -> npt.NDArray[np.int16]:
        """Everything media sent to be played, decoded."""
        return self.codec.decode(b"".join(self.audio_frames))

    @property
    def marks(self) -> list[str]:
        return [message.mark_name for message in self.read if message.mark_name is not None]

    @property
    def clears(self) -> int:
        return sum(message.clear for message in self.read)

    def _on_send(self, raw: str) -> None:
        message = self.wire.read(raw)
        assert not message.violations, message.violations
        self.read.append(message)
        if message.mark_name is not None and self.echo_marks:
            echo = self.wire.mark_echo(message.mark_name, cleared=False)
            if echo is not None:
                self.socket.deliver(echo)


class FakeAgent(AgentConnection):
    """An agent in the call's process: records what it is sent; the test speaks for it through
    ``listener`` once the call has started it."""

    def __init__(
        self, rate_hz: int = 8000, *, speaks_text: bool = True, connect_error: str | None = None
    ) -> None:
        self.input_rate_hz = self.output_rate_hz = rate_hz
        self.speaks_text = speaks_text
        self._connect_error = connect_error
        self.audio = bytearray()
        self.messages: list[dict[str, Any]] = []
        self.listener: AgentListener | None = None
        self.started = asyncio.Event()
        self.changed = asyncio.Event()
        self.closed = False
        self.on_message: Callable[[dict[str, Any]], None] | None = None

    async def connect(self) -> None:
        if self._connect_error is not None:
            raise AgentError(self._connect_error)

    async def start(self, listener: AgentListener) -> None:
        self.listener = listener
        self.started.set()

    async def send_audio(self, pcm: bytes) -> None:
        self.audio += pcm
        self.changed.set()

    async def send_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.changed.set()
        if self.on_message is not None:
            self.on_message(message)

    async def close(self) -> None:
        self.closed = True

    def messages_of(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    async def wait_for_message(self, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while not self.messages_of(kind):
                self.changed.clear()
                await self.changed.wait()
        return self.messages_of(kind)[0]

    async def wait_for_audio(self, size: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.audio) < size:
                self.changed.clear()
                await self.changed.wait()
