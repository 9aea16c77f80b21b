"""``agentBackend``: callbridge's own field saying which agent speaks on a call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from callbridge.common.models.base import ApiModel

# Rates an agent may speak at; every one is an integer multiple of 8 kHz so the live resampler stays
# polyphase with a fixed output frame size (see services/media audio/resampler.py).
AgentSampleRate = Literal[8000, 16000, 24000, 48000]


class WebSocketBackend(ApiModel):
    """Any server that speaks the server side of Ultravox's serverWebSocket protocol."""

    url: str = Field(pattern=r"^wss?://", max_length=2048, description="The agent's ws:// or wss:// URL.")
    input_sample_rate: AgentSampleRate = Field(default=16000, description="The rate in Hz the agent hears.")
    output_sample_rate: AgentSampleRate | None = Field(
        default=None, description="Defaults to inputSampleRate, as in Ultravox's serverWebSocket medium."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Sent on the WebSocket handshake.")

    @property
    def effective_output_sample_rate(self) -> int:
        return self.output_sample_rate or self.input_sample_rate


class EchoBackend(ApiModel):
    """Built-in: returns every audio frame it receives immediately and unchanged."""

    sample_rate: AgentSampleRate = Field(default=16000, description="The rate in Hz it echoes at.")


class DemoBackend(ApiModel):
    """Built-in scripted agent: greets, reads back DTMF digits, hangs up on '#'."""


class AgentBackend(ApiModel):
    """Which agent speaks on a call: exactly one of ``websocket``, ``echo`` or ``demo``."""

    websocket: WebSocketBackend | None = Field(default=None, description="Your agent's WebSocket server.")
    echo: EchoBackend | None = Field(default=None, description="The built-in echo agent.")
    demo: DemoBackend | None = Field(default=None, description="The built-in scripted demo agent.")

    @model_validator(mode="after")
    def _exactly_one(self) -> AgentBackend:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"agentBackend must set exactly one of websocket, echo, demo; got {chosen}")
        return self

    @property
    def kind(self) -> Literal["websocket", "echo", "demo"]:
        if self.websocket is not None:
            return "websocket"
        if self.echo is not None:
            return "echo"
        return "demo"


__all__ = ["AgentBackend", "AgentSampleRate", "DemoBackend", "EchoBackend", "WebSocketBackend"]
