"""What webhooks tests share besides fixtures: the running API's handle, its settings, and direct access to
the KV buckets for records the API itself would never write."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js.errors import NoKeysError
from pydantic import SecretStr

from callbridge.devkit.asgi import bind_listener, serve_asgi
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
    app: FastAPI


def settings_for(nats_url: str, port: int, **overrides: Any) -> WebhooksSettings:
    return WebhooksSettings(
        nats_url=nats_url,
        api_key=SecretStr(API_KEY),
        secret_key=SecretStr(SECRET_KEY),
        public_base_url=PUBLIC_BASE_URL,
        media_public_url=MEDIA_PUBLIC_URL,
        port=port,
        **overrides,
    )


@contextlib.asynccontextmanager
async def running_webhooks(nats_url: str, **overrides: Any) -> AsyncIterator[Api]:
    """The webhooks service on a free port against ``nats_url``, with an API client."""
    listener = bind_listener("127.0.0.1", 0)  # the system's choice of port, bound before anything uses it
    port = listener.getsockname()[1]
    settings = settings_for(nats_url, port, **overrides)
    app = create_app(settings)
    async with (
        serve_asgi(app, "127.0.0.1", port, limits=settings.connection_limits, listener=listener) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=10) as client,
    ):
        yield Api(client, base_url, settings.public_base_url, app)


async def put_raw(nats_client: Client, bucket: str, key: str, value: bytes) -> None:
    """Store bytes under ``key`` as they are: a record written by an older or broken version."""
    kv = await nats_client.jetstream().key_value(bucket)
    await kv.put(key, value)


async def raw_keys(nats_client: Client, bucket: str) -> set[str]:
    kv = await nats_client.jetstream().key_value(bucket)
    try:
        return set(await kv.keys())
    except NoKeysError:
        return set()
