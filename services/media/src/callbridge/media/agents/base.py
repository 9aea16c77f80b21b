"""The agent side of a call: audio and data messages both ways, as in Ultravox's serverWebSocket protocol.

Audio is s16le mono PCM: to the agent at ``input_rate_hz``, from it at ``output_rate_hz``. Data
messages are the protocol's JSON objects (``playback_clear_buffer``, ``transcript``,
``client_tool_invocation``... from the agent; ``user_text_message``, ``client_tool_result``... to it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from callbridge.media.agents.messages import AgentMessage


class AgentError(Exception):
    """The agent could not be reached or broke the protocol."""


class AgentListener(Protocol):
    """The call session, as the agent sees it."""

    @property
    def on_agent_audio(self) -> Callable[[bytes], Awaitable[None]]:
        """Where s16le audio at the agent's output rate goes, any length (odd included: a sample may be
        split across frames). An attribute rather than a method, so the session can point it at what plays
        the audio with no layer between."""

    async def on_agent_message(self, message: AgentMessage) -> None:
        """A data message from the agent, parsed and bounded (see messages.py)."""

    def on_agent_closed(self, error: str | None) -> None:
        """The agent went away: cleanly (``None``) or with an error."""


class AgentConnection(ABC):
    input_rate_hz: int
    output_rate_hz: int
    speaks_text: bool = False
    """Whether ``forced_agent_message`` makes this agent speak (used for ``timeExceededMessage``)."""
    messages_rejected: int = 0
    """Data messages from the agent that were not valid and were skipped."""

    async def connect(self) -> None:  # noqa: B027  (optional hook: a no-op for in-process agents)
        """Open the connection. Called as soon as the provider's socket arrives, before its ``start``,
        so that the agent's network set-up overlaps the provider's; built-in agents need none."""

    @abstractmethod
    async def start(self, listener: AgentListener) -> None:
        """The stream has started: from now on the listener receives the agent's audio and messages."""

    @abstractmethod
    async def send_audio(self, pcm: bytes) -> None:
        """Caller audio, s16le at ``input_rate_hz``."""

    @abstractmethod
    async def send_message(self, message: dict[str, Any]) -> None:
        """A JSON data message to the agent."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect; idempotent."""
