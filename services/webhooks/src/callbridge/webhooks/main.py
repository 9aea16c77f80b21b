"""The webhooks service: app factory, lifespan (NATS, JetStream, KV), the ``callbridge-webhooks`` command."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from callbridge.common import buckets
from callbridge.common.account_webhooks.delivery import DispatcherSettings, WebhookDispatcher
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
from callbridge.common.call_factory import (
    CallCreationError,
    CallExistsError,
    CallFactory,
    CapacityExceededError,
    Outbound,
)
from callbridge.common.command_client import MediaCommands
from callbridge.common.dialing import DialPublisher, ensure_dial_stream
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.loop_lag import loop_lag_monitored
from callbridge.common.models.medium import E164_ERROR
from callbridge.common.secrets import SecretBox
from callbridge.common.service_cli import load_settings, parse_service_args
from callbridge.common.store import (
    ConflictError,
    CorruptRecordError,
    KvStore,
    RecordTooLargeError,
    UnencodableRecordError,
)
from callbridge.common.telemetry import configure_logging, setup_tracing
from callbridge.common.warm_transfer import WarmTransferState
from callbridge.telephony import ProviderAccounts, ProviderRequestError, RestClients, TelephonyConfigs
from callbridge.webhooks import metrics
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import TooManyCallsError, WebhooksError, status_of_refused_request
from callbridge.webhooks.http_server import uvicorn_config
from callbridge.webhooks.log_context import CallLogContext
from callbridge.webhooks.metrics import RequestMetrics
from callbridge.webhooks.migrations import seal_plaintext_agent_headers
from callbridge.webhooks.redaction import install_log_filter, redact_span
from callbridge.webhooks.replays import ReplayGuard
from callbridge.webhooks.request_limits import RequestLimits
from callbridge.webhooks.routes import (
    account_webhooks,
    agents,
    batches,
    call_events,
    call_throttles,
    calls,
    docs,
    health,
    provider_status,
    telephony_configs,
    telephony_xml,
)

logger = logging.getLogger("callbridge.webhooks")

BATCH_CREATE_PATH = re.compile(r"/api/agents/[^/]+/scheduled_batches/?")
"""The one route taking bodies up to ``max_batch_request_bytes``: a batch of 100,000 calls."""

SERVICE_NAME = "callbridge-webhooks"
STARTUP_FAILURE = 3


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()
    tracer_provider = setup_tracing(SERVICE_NAME, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker = create_broker(settings.nats_url, tracer_provider, settings.nats_credentials)
        connection = await connect_broker(broker, settings.nats_url, settings.nats_credentials)
        secret_key = settings.secret_key.get_secret_value()
        await ensure_jetstream(connection, replicas=settings.nats_replicas)
        await ensure_dial_stream(connection.jetstream(), replicas=settings.nats_replicas)
        await ensure_call_control_stream(connection.jetstream(), replicas=settings.nats_replicas)
        claims = await open_bucket(
            broker, buckets.CALL_CONTROL, ttl=CLAIM_TTL, replicas=settings.nats_replicas
        )
        stores = await open_stores(
            broker, call_retention=settings.call_retention, replicas=settings.nats_replicas
        )
        configs = TelephonyConfigs(stores.telephony_configs)
        rest_clients = RestClients(configs, SecretBox(secret_key).decrypt, settings)
        publisher = EventPublisher(broker)
        await seal_plaintext_agent_headers(stores, SecretBox(secret_key).encrypt)
        app.state.broker = broker
        app.state.services = Services(
            settings=settings,
            stores=stores,
            configs=configs,
            publisher=publisher,
            calls=CallFactory(
                stores.calls,
                stores.call_listing,
                publisher,
                JoinTokenSigner(secret_key),
                settings.media_public_url,
                capacity=stores.capacity,
                outbound=Outbound(
                    accounts=ProviderAccounts(configs).resolve,
                    dials=DialPublisher(connection.jetstream()),
                ),
            ),
            secret_box=SecretBox(secret_key),
            replays=ReplayGuard(stores.webhook_replays),
            media_commands=MediaCommands(connection),
            rest_clients=rest_clients,
            call_control=CallControlPublisher(connection.jetstream()),
            command_claims=KvStore(claims, CommandClaim),
            warm_transfers=KvStore(claims, WarmTransferState),
        )
        if settings.uses_dev_api_key:
            logger.warning(
                "using the development API key %r (set CALLBRIDGE_API_KEY)",
                settings.api_key.get_secret_value(),
            )
        logger.info(
            "webhooks ready: public %s, media %s", settings.public_base_url, settings.media_public_url
        )
        dispatcher = WebhookDispatcher(
            connection,
            stores.webhooks,
            stores.webhook_progress,
            stores.calls,
            SecretBox(secret_key).decrypt,
            DispatcherSettings(
                retry_base_s=settings.webhook_retry_base_s,
                timeout_s=settings.webhook_timeout_s,
                concurrency=settings.webhook_concurrency,
                stream_replicas=settings.nats_replicas,
            ),
        )
        try:
            async with dispatcher, loop_lag_monitored(metrics.EVENT_LOOP_LAG):
                yield
        finally:
            await rest_clients.aclose()
            await stop_broker(broker)
            tracer_provider.shutdown()

    app = FastAPI(
        title="callbridge",
        summary="Self-hosted telephony for voice AI agents: REST API and provider webhooks",
        description="Every `/api` route needs the `X-API-Key` header, except the provider webhooks, which "
        'are verified by the provider\'s signature. Errors are `{"detail": …}`.',
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py from local assets, not a CDN
        redoc_url=None,
        # One schema per model: CallMedium's serializer would otherwise make its output schema a bare map.
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    for router in (
        docs.router,
        health.router,
        agents.router,
        account_webhooks.router,
        batches.router,
        calls.router,
        call_events.router,
        call_throttles.router,
        telephony_configs.router,
        telephony_xml.router,
        provider_status.router,
    ):
        app.include_router(router)
    _install_error_handlers(app)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_request_bytes,
        large_body_routes=[("POST", BATCH_CREATE_PATH)],
        max_large_body_bytes=settings.max_batch_request_bytes,
    )
    app.add_middleware(CallLogContext)
    app.add_middleware(RequestMetrics)
    install_log_filter()
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls="healthz,livez,readyz",
        server_request_hook=redact_span,
    )
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebhooksError)
    async def on_webhooks_error(request: Request, exc: WebhooksError) -> JSONResponse:
        headers = None
        if isinstance(exc, TooManyCallsError):  # whole seconds, at least 1 (RFC 9110 §10.2.3)
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(CallCreationError)
    async def on_call_refused(request: Request, exc: CallCreationError) -> JSONResponse:
        if isinstance(exc, CapacityExceededError):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
            return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)
        status_code = 409 if isinstance(exc, CallExistsError) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status_code)

    @app.exception_handler(ProviderRequestError)
    async def on_refused_provider_request(request: Request, exc: ProviderRequestError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_of_refused_request(exc))

    @app.exception_handler(ConflictError)
    async def on_conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": f"concurrent update, retry: {exc}"}, status_code=409)

    @app.exception_handler(CorruptRecordError)
    async def on_corrupt(request: Request, exc: CorruptRecordError) -> JSONResponse:
        # Routes name the resource and how to delete it (see routes/); this is for the records they
        # read on the side (a provider config during a webhook).
        logger.error("unreadable record: %s", exc)
        detail = (
            f"the stored {exc.model} {exc.key!r} cannot be read (written by an older or broken version); "
            "delete it and create it again"
        )
        return JSONResponse({"detail": detail}, status_code=409)

    @app.exception_handler(RecordTooLargeError)
    async def on_too_large(request: Request, exc: RecordTooLargeError) -> JSONResponse:
        return JSONResponse({"detail": f"too large to store: {exc}"}, status_code=413)

    @app.exception_handler(UnencodableRecordError)
    async def on_unencodable(request: Request, exc: UnencodableRecordError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes each invalid input, which may be bytes that are not UTF-8, NaN, or
        # a lone surrogate: none can be written as JSON, and its answer became a 500. Where and why suffice.
        errors = exc.errors()
        status = 400 if any(error.get("type") in BAD_REQUEST_ERRORS for error in errors) else 422
        return JSONResponse({"detail": [_field_error(error) for error in errors]}, status_code=status)


BAD_REQUEST_ERRORS = frozenset({E164_ERROR})
"""Validation errors answered 400 rather than 422: a phone number that is not E.164 is a bad request in
the caller's data, as the providers themselves answer it, not a body that does not fit the schema."""


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "loc": [part if isinstance(part, int) else _printable(str(part)) for part in error.get("loc", ())],
        "msg": _printable(str(error.get("msg", ""))),
        "type": _printable(str(error.get("type", ""))),
    }


def _printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def run() -> None:
    """``callbridge-webhooks``: serve the API with uvicorn on CALLBRIDGE_HOST:CALLBRIDGE_PORT."""
    parse_service_args(SERVICE_NAME, "The callbridge REST API and provider webhooks.", WebhooksSettings)
    settings = load_settings(SERVICE_NAME, WebhooksSettings)
    configure_logging(
        settings.log_level, settings.log_format, service=SERVICE_NAME, instance=settings.instance_id
    )
    config = uvicorn_config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        limits=settings.connection_limits,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)  # as uvicorn.run does: the lifespan's error is logged above
