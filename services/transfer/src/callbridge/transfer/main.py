"""The transfer service process: NATS, the call-control and ended-call consumers, the health and metrics
server, and the ``callbridge-transfer`` command."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

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
from callbridge.common.call_factory import CallFactory, Outbound
from callbridge.common.command_client import MediaCommands
from callbridge.common.dialing import DialPublisher, ensure_dial_stream
from callbridge.common.health import HealthServer, health_app
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.loop_lag import loop_lag_monitored
from callbridge.common.secrets import SecretBox
from callbridge.common.service_main import run_service
from callbridge.common.store import KvStore
from callbridge.common.telemetry import setup_tracing
from callbridge.common.warm_transfer import WarmTransferState
from callbridge.telephony import RestClients, TelephonyConfigs
from callbridge.telephony.accounts import ProviderAccounts
from callbridge.transfer import metrics
from callbridge.transfer.claims import CommandClaims
from callbridge.transfer.config import TransferSettings
from callbridge.transfer.executor import CommandExecutor
from callbridge.transfer.warm import WarmTransfers
from callbridge.transfer.worker import register_commands, register_hang_ups

logger = logging.getLogger("callbridge.transfer")

SERVICE_NAME = "callbridge-transfer"
HEALTH_READY_TIMEOUT_S = 15.0
STOP_STEP_TIMEOUT_S = 10.0


async def serve_transfer(
    settings: TransferSettings,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Run the transfer service until ``stop`` is set. ``sock``: the health port bound already (the
    embedded stack binds port 0 first); else the settings' host and port."""
    tracer_provider = setup_tracing(SERVICE_NAME, settings.otel_exporter_otlp_endpoint)
    broker = create_broker(settings.nats_url, tracer_provider, settings.nats_credentials)
    connection = await connect_broker(broker, settings.nats_url, settings.nats_credentials)
    await ensure_jetstream(connection, replicas=settings.nats_replicas)
    await ensure_call_control_stream(connection.jetstream(), replicas=settings.nats_replicas)
    await ensure_dial_stream(connection.jetstream(), replicas=settings.nats_replicas)
    stores = await open_stores(
        broker, call_retention=settings.call_retention, replicas=settings.nats_replicas
    )
    claims_kv = await open_bucket(
        broker, buckets.CALL_CONTROL, ttl=CLAIM_TTL, replicas=settings.nats_replicas
    )
    clients = RestClients(
        TelephonyConfigs(stores.telephony_configs),
        SecretBox(settings.secret_key.get_secret_value()).decrypt,
        settings,
        tracer=tracer_provider.get_tracer(SERVICE_NAME),
    )
    secret_key = settings.secret_key.get_secret_value()
    publisher = EventPublisher(broker)
    media = MediaCommands(connection)
    warm_states = KvStore(claims_kv, WarmTransferState)
    # A warm transfer's second leg is an outbound call like any other: made here, placed by a dialer.
    factory = CallFactory(
        stores.calls,
        stores.call_listing,
        publisher,
        JoinTokenSigner(secret_key),
        settings.media_public_url,
        capacity=stores.capacity,
        outbound=Outbound(
            accounts=ProviderAccounts(TelephonyConfigs(stores.telephony_configs)).resolve,
            dials=DialPublisher(connection.jetstream()),
        ),
    )
    warm = WarmTransfers(stores, warm_states, publisher, clients, media, factory, settings.public_base_url)
    executor = CommandExecutor(
        stores,
        CommandClaims(KvStore(claims_kv, CommandClaim)),
        publisher,
        clients,
        media,
        settings.public_base_url,
        warm,
    )
    register_commands(broker, executor, settings.max_concurrent_commands)
    register_hang_ups(broker, stores.calls, CallControlPublisher(connection.jetstream()), warm_states)
    await broker.start()
    health = HealthServer(
        uvicorn.Config(
            health_app(lambda: connection.is_connected),
            host=settings.transfer_host,
            port=settings.transfer_port,
            log_level="warning",
            lifespan="off",
            log_config=None,  # no handlers of uvicorn's own: its lines go to the process's (JSON) handler
        )
    )
    sockets = [sock] if sock is not None else None
    health_task = asyncio.create_task(health.serve(sockets=sockets), name="transfer-health")
    try:
        async with asyncio.timeout(HEALTH_READY_TIMEOUT_S):
            while not health.started:
                if health_task.done():
                    health_task.result()
                    raise RuntimeError("the health server stopped during start-up")
                await asyncio.sleep(0.02)  # uvicorn offers no start-up event to wait on
        logger.info("transfer %s ready: health on port %d", settings.instance_id, settings.transfer_port)
        if ready is not None:
            ready.set()
        async with loop_lag_monitored(metrics.EVENT_LOOP_LAG):
            await stop.wait()
    finally:
        health.should_exit = True
        await _bounded(health_task, "the health server")
        # Unacknowledged commands go back to the stream (redelivered after their ack wait).
        await _bounded(asyncio.ensure_future(stop_broker(broker)), "draining NATS")
        await _bounded(asyncio.ensure_future(clients.aclose()), "closing the REST clients")
        tracer_provider.shutdown()


async def _bounded(task: asyncio.Future[None], what: str) -> None:
    """Await one step of the shutdown for at most STOP_STEP_TIMEOUT_S: a stop never hangs."""
    try:
        async with asyncio.timeout(STOP_STEP_TIMEOUT_S):
            await task
    except TimeoutError:
        logger.warning("%s took more than %g s: left behind", what, STOP_STEP_TIMEOUT_S)
        task.cancel()
    except asyncio.CancelledError:
        if not task.cancelled():
            raise


def run() -> None:
    """``callbridge-transfer``: call control from NATS; health and metrics on CALLBRIDGE_TRANSFER_PORT."""
    run_service(
        SERVICE_NAME,
        "The callbridge transfer service: cold transfers, DTMF and hang-ups through the providers.",
        TransferSettings,
        serve_transfer,
    )
