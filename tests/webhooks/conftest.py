"""The webhooks service on real HTTP (uvicorn on a free port) against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app
from tests.webhooks.helpers import API_KEY, MEDIA_PUBLIC_URL, SECRET_KEY, Api

__all__ = ["API_KEY", "MEDIA_PUBLIC_URL", "SECRET_KEY", "Api"]  # older test modules import them from here


@pytest.fixture
async def api(nats_url: str, clean_jetstream: None) -> AsyncIterator[Api]:
    port = free_port()
    public_base_url = "https://callbridge.example.test"
    settings = WebhooksSettings(
        nats_url=nats_url,
        api_key=SecretStr(API_KEY),
        secret_key=SecretStr(SECRET_KEY),
        public_base_url=public_base_url,
        media_public_url=MEDIA_PUBLIC_URL,
        port=port,
    )
    async with (
        serve_asgi(create_app(settings), "127.0.0.1", port, limits=settings.connection_limits) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=10) as client,
    ):
        yield Api(client, base_url, public_base_url)
