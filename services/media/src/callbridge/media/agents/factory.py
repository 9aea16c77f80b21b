"""Build the agent connection a call's ``agentBackend`` asks for."""

from __future__ import annotations

from callbridge.common.models.call import Call
from callbridge.common.models.sealing import Decrypt
from callbridge.media.agents.base import AgentConnection
from callbridge.media.agents.demo import DemoAgent
from callbridge.media.agents.echo import EchoAgent
from callbridge.media.agents.websocket import WebSocketAgent
from callbridge.media.ratelimit import CallLog


def create_agent(
    call: Call, log: CallLog, *, decrypt: Decrypt, connect_timeout_s: float, max_message_bytes: int
) -> AgentConnection:
    """``decrypt`` opens the agent's sealed header values when the WebSocket agent connects."""
    backend = call.agent_backend
    if backend.websocket is not None:
        return WebSocketAgent(
            backend.websocket,
            log=log,
            decrypt=decrypt,
            connect_timeout_s=connect_timeout_s,
            max_message_bytes=max_message_bytes,
        )
    if backend.echo is not None:
        return EchoAgent(backend.echo.sample_rate)
    return DemoAgent(call.first_speaker_settings)
