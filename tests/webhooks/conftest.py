"""The webhooks service on real HTTP (uvicorn on a free port) against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.webhooks.helpers import API_KEY, MEDIA_PUBLIC_URL, SECRET_KEY, Api, running_webhooks

__all__ = ["API_KEY", "MEDIA_PUBLIC_URL", "SECRET_KEY", "Api"]  # older test modules import them from here


@pytest.fixture
async def api(nats_url: str, clean_jetstream: None) -> AsyncIterator[Api]:
    async with running_webhooks(nats_url) as running:
        yield running
