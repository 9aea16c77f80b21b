"""The webhooks service on real HTTP (uvicorn on a free port) against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.webhooks.helpers import Api, running_webhooks


@pytest.fixture
async def api(nats_url: str, clean_jetstream: None) -> AsyncIterator[Api]:
    async with running_webhooks(nats_url) as running:
        yield running
