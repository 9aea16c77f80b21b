"""An agent reached over WebSocket: the server side of Ultravox's serverWebSocket protocol (reference §7).

Binary frames carry s16le PCM both ways; text frames carry the JSON data messages. callbridge is the client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from callbridge.common.models.backend import SealedWebSocketBackend
from callbridge.common.models.sealing import Decrypt
from callbridge.common.secrets import SecretDecryptionError
from callbridge.media import metrics
from callbridge.media.agents.base import AgentConnection, AgentError, AgentListener
from callbridge.media.agents.messages import InvalidAgentMessage, parse_agent_message
from callbridge.media.ratelimit import CallLog

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
        log: CallLog,
        decrypt: Decrypt,
        connect_timeout_s: float,
        max_message_bytes: int,
    ) -> None:
        self.input_rate_hz = backend.input_sample_rate
        self.output_rate_hz = backend.effective_output_sample_rate
        self._backend = backend
        self._call_id = log.call_id
        self._log = log.child(logger)
        self._decrypt = decrypt
        self._connect_timeout_s = connect_timeout_s
        self._max_message_bytes = max_message_bytes
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.dropped_frames = 0
        """Caller frames not sent because the agent stopped reading."""
        self.messages_ignored = 0
        """Valid messages of a type callbridge does not act on."""
        self.handler_failures = 0

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
        """The agent boundary: binary frames are audio, text frames are parsed into typed messages
        (invalid ones counted and skipped); nothing the agent sends raises out of here and ends the call."""
        error: str | None = None
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    try:
                        await listener.on_agent_audio(message)
                    except Exception as exc:
                        self._handler_failed("audio", exc)
                    continue
                try:
                    parsed = parse_agent_message(message)
                except InvalidAgentMessage as exc:
                    self.messages_rejected += 1
                    self._log.warning("skipping invalid agent message: %s", exc)
                    continue
                if parsed is None:
                    self.messages_ignored += 1
                    continue
                try:
                    await listener.on_agent_message(parsed)
                except Exception as exc:
                    self._handler_failed(parsed.type, exc)
        except ConnectionClosed as exc:
            error = (
                None if exc.rcvd is not None and exc.rcvd.code == 1000 else f"agent connection lost: {exc}"
            )
        except Exception as exc:  # the session must learn the agent is gone, whatever broke
            self._log.error("agent reader failed", exc_info=exc)
            error = f"agent reader failed: {exc}"
        else:
            code = ws.close_code
            error = None if code in (1000, None) else f"agent closed with code {code}: {ws.close_reason}"
        listener.on_agent_closed(error)

    def _handler_failed(self, what: str, exc: Exception) -> None:
        """Handling one agent message failed (a bug, not the agent's doing): logged, and the call goes on."""
        self.handler_failures += 1
        self._log.error("handling agent %s failed", what, exc_info=exc)

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
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.send(orjson.dumps(message).decode())
        except (ConnectionClosed, TimeoutError):
            self._log.warning("could not send %s to the agent", message.get("type"))

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await reader
            except TimeoutError:
                reader.cancel()
        if reader is not None:  # the call's counts, once the reader is done
            metrics.AGENT_MESSAGES_REJECTED.inc(self.messages_rejected)
            metrics.AGENT_MESSAGES_IGNORED.inc(self.messages_ignored)
            metrics.AGENT_FRAMES_DROPPED.inc(self.dropped_frames)
            metrics.AGENT_HANDLER_FAILURES.inc(self.handler_failures)
