"""The webhooks service: app factory, lifespan (NATS, JetStream, KV), the ``callbridge-webhooks`` command."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from callbridge.common.bus import EventPublisher, create_broker, ensure_jetstream, open_stores
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.secrets import SecretBox
from callbridge.common.service_cli import parse_service_args
from callbridge.common.store import ConflictError, CorruptRecordError
from callbridge.common.telemetry import configure_logging, setup_tracing
from callbridge.webhooks.calls import CallFactory
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import WebhooksError
from callbridge.webhooks.redaction import install_log_filter, redact_span
from callbridge.webhooks.replays import ReplayGuard
from callbridge.webhooks.routes import (
    agents,
    calls,
    health,
    provider_status,
    telephony_configs,
    telephony_xml,
)

logger = logging.getLogger("callbridge.webhooks")

SERVICE_NAME = "callbridge-webhooks"


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()
    tracer_provider = setup_tracing(SERVICE_NAME, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker = create_broker(settings.nats_url, tracer_provider)
        connection = await broker.connect()
        await ensure_jetstream(connection)
        stores = await open_stores(broker)
        publisher = EventPublisher(broker)
        secret_key = settings.secret_key.get_secret_value()
        app.state.broker = broker
        app.state.services = Services(
            settings=settings,
            stores=stores,
            publisher=publisher,
            calls=CallFactory(
                stores.calls, publisher, JoinTokenSigner(secret_key), settings.media_public_url
            ),
            secret_box=SecretBox(secret_key),
            replays=ReplayGuard(stores.webhook_replays),
        )
        if settings.uses_dev_api_key:
            logger.warning(
                "using the development API key %r (set CALLBRIDGE_API_KEY)",
                settings.api_key.get_secret_value(),
            )
        logger.info(
            "webhooks ready: public %s, media %s", settings.public_base_url, settings.media_public_url
        )
        try:
            yield
        finally:
            await broker.stop()
            tracer_provider.shutdown()

    app = FastAPI(
        title="callbridge",
        summary="Self-hosted telephony for voice AI agents: REST API and provider webhooks",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for router in (
        health.router,
        agents.router,
        calls.router,
        telephony_configs.router,
        telephony_xml.router,
        provider_status.router,
    ):
        app.include_router(router)
    _install_error_handlers(app)
    install_log_filter()
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, excluded_urls="healthz", server_request_hook=redact_span
    )
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebhooksError)
    async def on_webhooks_error(request: Request, exc: WebhooksError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(ConflictError)
    async def on_conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": f"concurrent update, retry: {exc}"}, status_code=409)

    @app.exception_handler(CorruptRecordError)
    async def on_corrupt(request: Request, exc: CorruptRecordError) -> JSONResponse:
        logger.error("corrupt record: %s", exc)
        return JSONResponse({"detail": "stored record is unreadable"}, status_code=500)


def run() -> None:
    """``callbridge-webhooks``: serve the API with uvicorn on CALLBRIDGE_HOST:CALLBRIDGE_PORT."""
    parse_service_args(SERVICE_NAME, "The callbridge REST API and provider webhooks.", WebhooksSettings)
    settings = WebhooksSettings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower()
    )
