"""The built-in echo agent: returns every audio frame it receives, immediately and unchanged."""

from __future__ import annotations

from typing import Any

from callbridge.media.agents.base import AgentConnection, AgentListener


class EchoAgent(AgentConnection):
    def __init__(self, sample_rate_hz: int) -> None:
        self.input_rate_hz = self.output_rate_hz = sample_rate_hz
        self._listener: AgentListener | None = None

    async def start(self, listener: AgentListener) -> None:
        self._listener = listener

    async def send_audio(self, pcm: bytes) -> None:
        if self._listener is not None:
            await self._listener.on_agent_audio(pcm)

    async def send_message(self, message: dict[str, Any]) -> None:
        """The echo agent has no use for data messages."""

    async def close(self) -> None:
        self._listener = None
