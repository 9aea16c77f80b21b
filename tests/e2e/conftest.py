"""Fixtures of the end-to-end tests: the whole stack (webhooks + media on real HTTP and WebSockets, a real
nats-server). Helpers the tests share are in helpers.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY


@pytest.fixture(scope="session")
def refusing_api_url() -> Iterator[str]:
    """A local URL where every connection is refused at once: a port bound (so nobody else gets it) that
    never listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(autouse=True)
def no_real_provider_apis(refusing_api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No end-to-end test reaches a real provider: a stack given no API URL for a provider (and every
    process it starts) would otherwise call the real one, as the transfer service does to hang up the
    provider's call after an inbound test call ends; on a machine without DNS each such lookup could
    stall a stack's shutdown. A test that gives a provider URL (a simulator) still uses it."""
    for provider in ("TWILIO", "TELNYX", "PLIVO", "EXOTEL"):
        monkeypatch.setenv(f"CALLBRIDGE_{provider}_API_URL", refusing_api_url)


@pytest.fixture
async def stack(nats_url: str, clean_jetstream: None) -> AsyncIterator[RunningStack]:
    async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)) as running:
        yield running
