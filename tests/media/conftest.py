"""The media service on a real port against a real nats-server, started with the settings a test gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from callbridge.common.bus import connect_broker, create_broker, ensure_jetstream, open_stores, stop_broker
from callbridge.devkit.nats_server import free_port
from callbridge.media.config import MediaSettings
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.main import serve_media
from callbridge.media.outbox import EventOutbox
from tests.media.fakes import FlakyPublisher
from tests.media.helpers import MEDIA_SECRET_KEY, MediaPort
from tests.media.sessions import CallRecords

START_TIMEOUT_S = 15.0


@pytest.fixture
def media_port(nats_url: str, clean_jetstream: None) -> MediaPort:
    """``async with media_port(**settings) as port``: media serving on ``port`` until the block ends."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[int]:
        port = free_port()
        options: dict[str, Any] = {
            "nats_url": nats_url,
            "secret_key": SecretStr(MEDIA_SECRET_KEY),
            "media_port": port,
            "drain_timeout_s": 1.0,
            **settings,
        }
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(serve_media(MediaSettings(**options), stop, ready), name="media")
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                waiter = asyncio.create_task(ready.wait())
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if task.done():
                    task.result()
            yield port
        finally:
            stop.set()
            await task

    return start


@pytest.fixture
async def records(nats_url: str, clean_jetstream: None) -> AsyncIterator[CallRecords]:
    """Call records in a real NATS KV, and the lifecycle media changes them with; its events go through
    a real outbox to a recording publisher (``published``)."""
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    stores = await open_stores(broker)
    published = FlakyPublisher()
    outbox = EventOutbox(published)
    outbox.start()
    try:
        yield CallRecords(
            stores,
            CallLifecycle(stores.calls, stores.call_listing, outbox, "media-test"),
            published,
            connection,
        )
    finally:
        await outbox.close(timeout_s=2.0)
        await stop_broker(broker)
