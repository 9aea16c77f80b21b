"""What the webhooks tests share: the test settings and the API client the ``api`` fixture yields."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app

API_KEY = "test-api-key-0123456789"
SECRET_KEY = "test-secret-key-0123456789-0123456789"
MEDIA_PUBLIC_URL = "wss://media.example.test"
PUBLIC_BASE_URL = "https://callbridge.example.test"


@dataclass
class Api:
    client: httpx.AsyncClient
    base_url: str
    public_base_url: str


@contextlib.asynccontextmanager
async def running_webhooks(nats_url: str) -> AsyncIterator[Api]:
    """The webhooks service on a free port against ``nats_url``, with an API client."""
    port = free_port()
    settings = WebhooksSettings(
        nats_url=nats_url,
        api_key=SecretStr(API_KEY),
        secret_key=SecretStr(SECRET_KEY),
        public_base_url=PUBLIC_BASE_URL,
        media_public_url=MEDIA_PUBLIC_URL,
        port=port,
    )
    async with (
        serve_asgi(create_app(settings), "127.0.0.1", port, limits=settings.connection_limits) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=10) as client,
    ):
        yield Api(client, base_url, PUBLIC_BASE_URL)
