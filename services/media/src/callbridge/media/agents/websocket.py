"""An agent reached over WebSocket: the server side of Ultravox's serverWebSocket protocol (reference §7).

Binary frames carry s16le PCM both ways; text frames carry the JSON data messages. callbridge is the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from callbridge.common.models.backend import SealedWebSocketBackend
from callbridge.common.models.sealing import Decrypt
from callbridge.common.secrets import SecretDecryptionError
from callbridge.media.agents.base import AgentConnection, AgentError, AgentListener

logger = logging.getLogger(__name__)

# Audio the agent has not read yet, beyond which caller frames are dropped rather than queued: a stalled
# agent must not grow our memory or add seconds of latency when it recovers. 32 KB is 1 s at 16 kHz.
MAX_SEND_BUFFER_BYTES = 32 * 1024
CLOSE_TIMEOUT_S = 2.0


class WebSocketAgent(AgentConnection):
    speaks_text = True

    def __init__(
        self,
        backend: SealedWebSocketBackend,
        *,
        call_id: UUID,
        decrypt: Decrypt,
        connect_timeout_s: float,
        max_message_bytes: int,
    ) -> None:
        self.input_rate_hz = backend.input_sample_rate
        self.output_rate_hz = backend.effective_output_sample_rate
        self._backend = backend
        self._call_id = call_id
        self._decrypt = decrypt
        self._connect_timeout_s = connect_timeout_s
        self._max_message_bytes = max_message_bytes
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.dropped_frames = 0
        self.bad_messages = 0

    async def connect(self) -> None:
        # The header values are opened only here, for the handshake, and kept nowhere else.
        try:
            headers = self._backend.open_headers(self._decrypt)
        except SecretDecryptionError as exc:
            raise AgentError(
                "cannot decrypt the agent's headers: is CALLBRIDGE_SECRET_KEY the same on every service?"
            ) from exc
        headers["X-Callbridge-Call-Id"] = str(self._call_id)
        try:
            self._ws = await connect(
                self._backend.url,
                additional_headers=headers,
                open_timeout=self._connect_timeout_s,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=self._max_message_bytes,
                compression=None,
                user_agent_header="callbridge",
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise AgentError(f"cannot connect to agent {self._backend.url}: {exc}") from exc

    async def start(self, listener: AgentListener) -> None:
        # What the agent sent before this waits in the connection's bounded receive queue.
        if self._ws is None:
            raise AgentError("start before connect")
        self._reader = asyncio.create_task(
            self._read(self._ws, listener), name=f"agent-reader-{self._call_id}"
        )

    async def _read(self, ws: ClientConnection, listener: AgentListener) -> None:
        error: str | None = None
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    await listener.on_agent_audio(message)
                    continue
                try:
                    data = orjson.loads(message)
                except orjson.JSONDecodeError:
                    data = None
                if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                    self.bad_messages += 1
                    if self.bad_messages == 1:
                        logger.warning(
                            "call %s: agent sent a message that is not a typed JSON object", self._call_id
                        )
                    continue
                await listener.on_agent_message(data)
        except ConnectionClosed as exc:
            error = (
                None if exc.rcvd is not None and exc.rcvd.code == 1000 else f"agent connection lost: {exc}"
            )
        except Exception as exc:  # the session must learn the agent is gone, whatever broke
            logger.exception("call %s: agent reader failed", self._call_id)
            error = f"agent reader failed: {exc}"
        else:
            code = ws.close_code
            error = None if code in (1000, None) else f"agent closed with code {code}: {ws.close_reason}"
        listener.on_agent_closed(error)

    async def send_audio(self, pcm: bytes) -> None:
        ws = self._ws
        if ws is None:
            return
        if ws.transport.get_write_buffer_size() > MAX_SEND_BUFFER_BYTES:
            self.dropped_frames += 1
            return
        try:
            await ws.send(pcm)
        except ConnectionClosed:
            return  # the reader reports the close

    async def send_message(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await asyncio.wait_for(ws.send(orjson.dumps(message).decode()), timeout=CLOSE_TIMEOUT_S)
        except (ConnectionClosed, TimeoutError):
            logger.warning("call %s: could not send %s to the agent", self._call_id, message.get("type"))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            try:
                await asyncio.wait_for(self._reader, timeout=CLOSE_TIMEOUT_S)
            except TimeoutError:
                self._reader.cancel()
