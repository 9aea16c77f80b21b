"""A WebSocket agent's sealed headers are opened only to connect, with the key they were sealed with."""

from __future__ import annotations

from uuid import uuid4

import pytest
from websockets.asyncio.server import ServerConnection, serve

from callbridge.common.models.backend import WebSocketBackend
from callbridge.common.secrets import SecretBox
from callbridge.devkit.nats_server import free_port
from callbridge.media.agents.base import AgentError
from callbridge.media.agents.websocket import WebSocketAgent
from tests.media.helpers import MEDIA_SECRET_KEY

KEY = MEDIA_SECRET_KEY


async def test_the_agent_receives_the_opened_headers_and_a_wrong_key_is_a_clear_agent_error() -> None:
    seen: list[dict[str, str]] = []

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        seen.append(dict(connection.request.headers.raw_items()))
        await connection.wait_closed()

    port = free_port()
    backend = WebSocketBackend(
        url=f"ws://127.0.0.1:{port}/agent", headers={"Authorization": "Bearer abc-123"}
    )
    sealed = backend.seal(SecretBox(KEY).encrypt)
    assert "Bearer abc-123" not in sealed.model_dump_json()
    call_id = uuid4()
    async with serve(handler, "127.0.0.1", port):
        agent = WebSocketAgent(
            sealed,
            call_id=call_id,
            decrypt=SecretBox(KEY).decrypt,
            connect_timeout_s=5,
            max_message_bytes=65536,
        )
        await agent.connect()
        await agent.close()
        other_key = WebSocketAgent(
            sealed,
            call_id=call_id,
            decrypt=SecretBox(KEY[::-1]).decrypt,
            connect_timeout_s=5,
            max_message_bytes=65536,
        )
        with pytest.raises(AgentError, match="CALLBRIDGE_SECRET_KEY"):
            await other_key.connect()
    (headers,) = seen
    assert headers["Authorization"] == "Bearer abc-123"
    assert headers["X-Callbridge-Call-Id"] == str(call_id)
