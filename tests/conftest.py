"""Fixtures shared by every test: a real nats-server per test session, a fresh namespace per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from callbridge.devkit.nats_server import NatsServer
from tests.nats_servers import NATS_PASSWORD, NATS_USER, AuthorizingNats, new_user_nkey


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url, connect_timeout=5)
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture
async def clean_jetstream(nats_client: Client) -> None:
    """Delete every stream and KV bucket before the test, so tests do not see each other's records."""
    js = nats_client.jetstream()
    for stream in await js.streams_info():
        await js.delete_stream(stream.config.name or "")


@pytest.fixture
def authorizing_nats(tmp_path: Path) -> Iterator[AuthorizingNats]:
    """A nats-server of its own (the test may stop it) that lets in only NATS_USER/NATS_PASSWORD and the
    holder of one nkey seed."""
    seed_file = tmp_path / "callbridge.nk"
    public_key = new_user_nkey(seed_file)
    with NatsServer(user=NATS_USER, password=NATS_PASSWORD, nkey=public_key) as server:
        yield AuthorizingNats(server, seed_file)
