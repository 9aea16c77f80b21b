"""The media WebSocket server: join URLs in, call sessions out; health and ``/metrics`` beside them.

``/livez`` answers while the process serves the port; ``/readyz`` (and its alias ``/healthz``) only while
NATS is connected too, so a NATS blip takes the replica out of rotation without restarting it."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from http import HTTPStatus
from urllib.parse import urlsplit
from uuid import UUID

import orjson
from opentelemetry.trace import Tracer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from callbridge.common.join_tokens import ExpiredJoinTokenError, InvalidJoinTokenError, JoinTokenSigner
from callbridge.common.logs import bind_call
from callbridge.common.models.call import Call, EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.common.store import NotFoundError
from callbridge.media import metrics
from callbridge.media.agents.factory import create_agent
from callbridge.media.command_channel import CommandChannel
from callbridge.media.config import MediaSettings
from callbridge.media.lifecycle import CallLifecycle, CallUnavailableError
from callbridge.media.providers.base import StreamOptions
from callbridge.media.providers.registry import detect_provider, stream_for, supported
from callbridge.media.ratelimit import CallLog
from callbridge.media.session import CallSession
from callbridge.media.tools import ToolHandler
from callbridge.media.transport import WebsocketsProviderSocket

logger = logging.getLogger(__name__)

JOIN_PATH = re.compile(r"/calls/(?P<call_id>[0-9a-fA-F-]{36})/telephony/(?P<token>[0-9]+\.[A-Za-z0-9_-]+)")
# Close codes for a join refused after the handshake (RFC 6455 leaves 4000-4999 to applications).
CLOSE_CALL_UNAVAILABLE = 4409
CLOSE_CALL_NOT_FOUND = 4404
CLOSE_UNKNOWN_PROVIDER = 4415
# Twilio, Telnyx and Exotel send `connected` before `start`; Plivo starts with `start`.
DETECTION_MESSAGES = 2


class MediaServer:
    def __init__(
        self,
        settings: MediaSettings,
        lifecycle: CallLifecycle,
        signer: JoinTokenSigner,
        secret_box: SecretBox,
        tracer: Tracer,
        nats_connected: Callable[[], bool],
        commands: CommandChannel,
        tools: Mapping[str, ToolHandler] | None = None,
    ) -> None:
        """``tools``: the table every call's agent invokes tools from (``tools.default_tools``)."""
        self._settings = settings
        self._tools = tools
        self._commands = commands
        self._secret_box = secret_box
        self._nats_connected = nats_connected
        self._tracer = tracer
        self._stream_options = StreamOptions(telnyx_l16_byte_order=settings.telnyx_l16_byte_order)
        self._lifecycle = lifecycle
        self._signer = signer
        self.sessions: set[CallSession] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP, and refuse bad joins before the WebSocket handshake with a clear status."""
        path = urlsplit(request.path).path
        if path == "/livez":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path in ("/readyz", "/healthz"):
            if not self._nats_connected():
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "nats disconnected\n")
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            return Response(200, "OK", Headers({"Content-Type": CONTENT_TYPE_LATEST}), generate_latest())
        match = JOIN_PATH.fullmatch(path)
        if match is None:
            return self._refuse(connection, HTTPStatus.NOT_FOUND, "not a join URL", "not_found")
        try:
            call_id = UUID(match["call_id"])
            self._signer.verify(call_id, match["token"])
        except ExpiredJoinTokenError:
            return self._refuse(connection, HTTPStatus.FORBIDDEN, "join URL has expired", "expired")
        except (InvalidJoinTokenError, ValueError):
            return self._refuse(connection, HTTPStatus.FORBIDDEN, "invalid join URL", "invalid_token")
        if len(self.sessions) >= self._settings.max_calls:
            return self._refuse(connection, HTTPStatus.SERVICE_UNAVAILABLE, "media replica full", "full")
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, text: str, reason: str) -> Response:
        metrics.JOINS_REFUSED.labels(reason).inc()
        logger.info("join refused (%s): %s", status.value, text)
        return connection.respond(status, text + "\n")

    async def handle(self, connection: ServerConnection) -> None:
        match = JOIN_PATH.fullmatch(urlsplit(connection.request.path).path) if connection.request else None
        assert match is not None  # process_request let only join URLs through
        call_id = UUID(match["call_id"])
        bind_call(call_id)  # every line this connection's tasks log names the call
        # The claim happens after the handshake so that a handshake that fails leaves the call joinable.
        try:
            call = await self._lifecycle.claim(call_id)
        except NotFoundError:
            metrics.JOINS_REFUSED.labels("unknown_call").inc()
            await connection.close(CLOSE_CALL_NOT_FOUND, "unknown call")
            return
        except CallUnavailableError as exc:
            metrics.JOINS_REFUSED.labels("unavailable").inc()
            await connection.close(CLOSE_CALL_UNAVAILABLE, str(exc)[:120])
            return
        socket = WebsocketsProviderSocket(connection)
        provider = await self._provider_of(call, socket)
        if provider is None or not supported(provider):
            detail = (
                f"unsupported provider {provider}" if provider else "provider not recognised from the stream"
            )
            metrics.JOINS_REFUSED.labels("unknown_provider").inc()
            await connection.close(CLOSE_UNKNOWN_PROVIDER, detail)
            await self._lifecycle.end(call.call_id, EndReason.CONNECTION_ERROR, detail=detail)
            return
        # One log per call, its warnings rate-limited together, for the session, stream and agent.
        log = CallLog.for_call(
            logging.getLogger(CallSession.__module__), call.call_id, asyncio.get_running_loop().time
        )
        session = CallSession(
            call,
            socket,
            stream_for(provider, call, self._stream_options, log),
            create_agent(
                call,
                log,
                decrypt=self._secret_box.decrypt,
                connect_timeout_s=self._settings.agent_connect_timeout_s,
                max_message_bytes=self._settings.max_message_bytes,
            ),
            self._lifecycle,
            self._settings,
            self._tracer,
            log,
            tools=self._tools,
        )
        self.sessions.add(session)
        self._idle.clear()
        try:
            # The call takes commands from before its stream starts until its end is recorded.
            async with self._commands.open(session, log):
                await session.run()
        finally:
            self.sessions.discard(session)
            if not self.sessions:
                self._idle.set()

    async def _provider_of(self, call: Call, socket: WebsocketsProviderSocket) -> Provider | None:
        """The call's medium names the provider; without one, recognise it from the first (at most two)
        messages, which the socket hands to the session again (``prefetch``)."""
        if call.medium is not None:
            return call.medium.provider
        try:
            async with asyncio.timeout(self._settings.start_timeout_s):
                for _ in range(DETECTION_MESSAGES):
                    message = await socket.prefetch()
                    if message is None:
                        break
                    try:
                        data = orjson.loads(message)
                    except orjson.JSONDecodeError:
                        continue
                    provider = detect_provider(data) if isinstance(data, dict) else None
                    if provider is not None:
                        return provider
        except TimeoutError:
            pass
        return None

    def cut_calls(self, detail: str) -> int:
        """End every call in progress as ``system_error`` (the drain timeout passed): each plays out the
        agent's audio already sent (at most ``hang_up_drain_timeout_s``), then closes its stream. The number
        of calls cut."""
        return sum(session.hang_up(EndReason.SYSTEM_ERROR, detail) for session in list(self.sessions))

    async def wait_idle(self, timeout_s: float) -> bool:
        """Graceful shutdown: wait for the calls in progress to end; False if some outlived the timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
