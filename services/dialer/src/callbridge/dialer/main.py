"""The dialer service process: NATS, the dial and ended-call consumers, the capacity sweep, the health and
metrics server, and the ``callbridge-dialer`` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from callbridge.common.bus import (
    EventPublisher,
    connect_broker,
    create_broker,
    ensure_jetstream,
    open_stores,
    stop_broker,
)
from callbridge.common.call_control import CallControlPublisher, ensure_call_control_stream
from callbridge.common.dialing import ensure_dial_stream
from callbridge.common.health import HealthServer, health_app
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.loop_lag import loop_lag_monitored
from callbridge.common.secrets import SecretBox
from callbridge.common.service_main import run_service
from callbridge.common.telemetry import setup_tracing
from callbridge.dialer import metrics
from callbridge.dialer.batches.service import running_scheduler
from callbridge.dialer.config import DialerSettings
from callbridge.dialer.placing import CallPlacer, RetryPolicy
from callbridge.dialer.sweeper import sweep_forever
from callbridge.dialer.urls import DialUrls
from callbridge.dialer.worker import register_dialer
from callbridge.telephony import RestClients, TelephonyConfigs

logger = logging.getLogger("callbridge.dialer")

SERVICE_NAME = "callbridge-dialer"
HEALTH_READY_TIMEOUT_S = 15.0


async def serve_dialer(
    settings: DialerSettings,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Run the dialer until ``stop`` is set. ``sock``: the health port bound already (the embedded stack
    binds port 0 first); else the settings' host and port."""
    tracer_provider = setup_tracing(SERVICE_NAME, settings.otel_exporter_otlp_endpoint)
    broker = create_broker(settings.nats_url, tracer_provider, settings.nats_credentials)
    connection = await connect_broker(broker, settings.nats_url, settings.nats_credentials)
    await ensure_jetstream(connection, replicas=settings.nats_replicas)
    await ensure_dial_stream(connection.jetstream(), replicas=settings.nats_replicas)
    await ensure_call_control_stream(connection.jetstream(), replicas=settings.nats_replicas)
    stores = await open_stores(
        broker, call_retention=settings.call_retention, replicas=settings.nats_replicas
    )
    secret_key = settings.secret_key.get_secret_value()
    clients = RestClients(
        TelephonyConfigs(stores.telephony_configs),
        SecretBox(secret_key).decrypt,
        settings,
        tracer=tracer_provider.get_tracer(SERVICE_NAME),
    )
    placer = CallPlacer(
        stores,
        EventPublisher(broker),
        clients,
        DialUrls(JoinTokenSigner(secret_key), settings.public_base_url, settings.media_public_url),
        RetryPolicy(tries=settings.dial_tries, backoff_s=settings.dial_backoff_s),
        tracer=tracer_provider.get_tracer(SERVICE_NAME),
        call_control=CallControlPublisher(connection.jetstream()),
    )
    publisher = EventPublisher(broker)
    register_dialer(broker, placer, settings.max_concurrent_dials)
    await broker.start()
    health = HealthServer(
        uvicorn.Config(
            health_app(lambda: connection.is_connected),
            host=settings.dialer_host,
            port=settings.dialer_port,
            log_level="warning",
            lifespan="off",
            log_config=None,  # no handlers of uvicorn's own: its lines go to the process's (JSON) handler
        )
    )
    sockets = [sock] if sock is not None else None
    health_task = asyncio.create_task(health.serve(sockets=sockets), name="dialer-health")
    sweep_task = asyncio.create_task(
        sweep_forever(stores.capacity, stores.calls, settings.capacity_sweep_interval_s),
        name="capacity-sweep",
    )
    batches = contextlib.AsyncExitStack()
    try:
        await batches.enter_async_context(loop_lag_monitored(metrics.EVENT_LOOP_LAG))
        if settings.scheduler_enabled:
            await batches.enter_async_context(running_scheduler(settings, connection, stores, publisher))
        async with asyncio.timeout(HEALTH_READY_TIMEOUT_S):
            while not health.started:
                if health_task.done():
                    health_task.result()
                    raise RuntimeError("the health server stopped during start-up")
                await asyncio.sleep(0.02)  # uvicorn offers no start-up event to wait on
        logger.info("dialer %s ready: health on port %d", settings.instance_id, settings.dialer_port)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        await batches.aclose()
        sweep_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweep_task
        health.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await health_task
        await stop_broker(broker)  # unacknowledged dial requests go back to the stream
        await clients.aclose()
        tracer_provider.shutdown()


def run() -> None:
    """``callbridge-dialer``: take dial requests from NATS; health and metrics on CALLBRIDGE_DIALER_PORT."""
    run_service(
        SERVICE_NAME,
        "The callbridge dialer: places outbound calls through the providers.",
        DialerSettings,
        serve_dialer,
    )
