"""The media service process: NATS, the deadline consumer, the WebSocket server, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import timedelta

from websockets.asyncio.server import serve

from callbridge.common import buckets
from callbridge.common.bus import (
    EventPublisher,
    connect_broker,
    create_broker,
    ensure_jetstream,
    open_bucket,
    open_stores,
    stop_broker,
)
from callbridge.common.call_control import (
    CLAIM_TTL,
    CallControlPublisher,
    CommandClaim,
    ensure_call_control_stream,
)
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.loop_lag import monitor_loop_lag
from callbridge.common.secrets import SecretBox
from callbridge.common.service_main import run_service
from callbridge.common.store import KvStore
from callbridge.common.telemetry import setup_tracing
from callbridge.media import metrics
from callbridge.media.command_channel import CommandChannel
from callbridge.media.config import MediaSettings
from callbridge.media.connections import limited_connection
from callbridge.media.deadlines import register_deadlines
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.log_redaction import install_handshake_redaction
from callbridge.media.outbox import EventOutbox
from callbridge.media.provider_dtmf import ProviderDtmf
from callbridge.media.server import MediaServer
from callbridge.media.tools import default_tools
from callbridge.media.vad import shared_model
from callbridge.telephony import TelephonyConfigs

logger = logging.getLogger("callbridge.media")

SERVICE_NAME = "callbridge-media"
CUT_GRACE_S = 5.0
"""After the drain timeout, how long cut calls may take to close their streams beyond their last audio."""


async def serve_media(
    settings: MediaSettings,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Run the media service until ``stop`` is set, then drain the calls in progress. ``sock``: a socket
    bound already (the embedded stack binds port 0 first); else the settings' host and port."""
    install_handshake_redaction()
    # The speech detector's model (~70 ms to load), off the event loop and before any call needs it.
    await asyncio.to_thread(shared_model)
    tracer_provider = setup_tracing(SERVICE_NAME, settings.otel_exporter_otlp_endpoint)
    broker = create_broker(settings.nats_url, tracer_provider, settings.nats_credentials)
    connection = await connect_broker(broker, settings.nats_url, settings.nats_credentials)
    await ensure_jetstream(connection, replicas=settings.nats_replicas)
    stores = await open_stores(
        broker, call_retention=settings.call_retention, replicas=settings.nats_replicas
    )
    replica = f"media-{settings.instance_id}"
    outbox = EventOutbox(EventPublisher(broker))
    outbox.start()
    await ensure_call_control_stream(connection.jetstream(), replicas=settings.nats_replicas)
    call_control = CallControlPublisher(connection.jetstream())
    lifecycle = CallLifecycle(
        stores.calls,
        stores.call_listing,
        outbox,
        replica,
        capacity=stores.capacity,
        call_control=call_control,
    )
    # playDtmfSounds presses keys through the provider's API where it can (provider_dtmf.py).
    claims = await open_bucket(broker, buckets.CALL_CONTROL, ttl=CLAIM_TTL, replicas=settings.nats_replicas)
    out_of_band_dtmf = ProviderDtmf(
        connection,
        call_control,
        stores.calls,
        TelephonyConfigs(stores.telephony_configs),
        KvStore(claims, CommandClaim),
    )
    register_deadlines(
        broker, stores.calls, lifecycle, lost_call_grace=timedelta(seconds=settings.lost_call_grace_s)
    )
    await broker.start()
    secret_key = settings.secret_key.get_secret_value()
    server = MediaServer(
        settings,
        lifecycle,
        JoinTokenSigner(secret_key),
        SecretBox(secret_key),
        tracer_provider.get_tracer(SERVICE_NAME),
        lambda: connection.is_connected,
        CommandChannel(connection),
        default_tools(out_of_band_dtmf=out_of_band_dtmf),
    )
    lag_monitor = asyncio.create_task(monitor_loop_lag(metrics.EVENT_LOOP_LAG), name="event-loop-lag")
    try:
        address = (
            {"sock": sock} if sock is not None else {"host": settings.media_host, "port": settings.media_port}
        )
        async with serve(
            server.handle,
            **address,
            process_request=server.process_request,
            compression=None,  # providers do not negotiate permessage-deflate; it would only cost CPU
            max_size=settings.max_message_bytes,
            max_queue=64,
            server_header="callbridge-media",
            open_timeout=settings.request_timeout_s,
            create_connection=limited_connection(settings.media_max_connections),
        ) as ws_server:
            host, port = next(iter(ws_server.sockets)).getsockname()[:2]  # the bound port, also for port 0
            logger.info("media %s listening on ws://%s:%d", replica, host, port)
            if ready is not None:
                ready.set()
            await stop.wait()
            logger.info("draining: %d calls in progress", len(server.sessions))
            ws_server.close(close_connections=False)  # new joins go to other replicas
            if await server.wait_idle(settings.drain_timeout_s):
                logger.info("drained: every call ended")
            else:
                # Closing the server again would do nothing (websockets' close is idempotent, and the one
                # above left connections open): the calls are ended here, or the exit would wait for them.
                cut = server.cut_calls(
                    f"media replica stopped: the drain timeout ({settings.drain_timeout_s:g} s) passed"
                )
                logger.warning("drain timeout: cutting %d calls", cut)
                if not await server.wait_idle(settings.hang_up_drain_timeout_s + CUT_GRACE_S):
                    logger.warning("%d calls did not end when cut: dropping them", len(server.sessions))
                    for provider_socket in ws_server.connections:
                        provider_socket.transport.abort()  # their handlers end; the exit waits for nothing
    finally:
        lag_monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag_monitor
        await outbox.close()
        await stop_broker(broker)
        tracer_provider.shutdown()


def run() -> None:
    """``callbridge-media``: serve join URLs on CALLBRIDGE_MEDIA_HOST:CALLBRIDGE_MEDIA_PORT."""
    run_service(
        SERVICE_NAME,
        "The callbridge media service: provider media streams to agents.",
        MediaSettings,
        serve_media,
        uvloop=True,
    )
