"""The webhooks service on real HTTP (uvicorn on a free port) against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.webhooks.main import create_app
from tests.webhooks.helpers import API_KEY, MEDIA_PUBLIC_URL, SECRET_KEY, Api, settings_for

__all__ = ["API_KEY", "MEDIA_PUBLIC_URL", "SECRET_KEY", "Api"]


@pytest.fixture
async def api(nats_url: str, clean_jetstream: None) -> AsyncIterator[Api]:
    port = free_port()
    settings = settings_for(nats_url, port)
    app = create_app(settings)
    async with (
        serve_asgi(app, "127.0.0.1", port) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=10) as client,
    ):
        yield Api(client, base_url, settings.public_base_url, app)
