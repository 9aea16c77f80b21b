"""Fixtures of the end-to-end tests: the whole stack (webhooks + media on real HTTP and WebSockets, a real
nats-server). Helpers the tests share are in helpers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY


@pytest.fixture
async def stack(nats_url: str, clean_jetstream: None) -> AsyncIterator[RunningStack]:
    async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)) as running:
        yield running
