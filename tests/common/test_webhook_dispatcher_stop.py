"""Stopping the account webhook dispatcher leaves nothing on its NATS connection.

A pull subscription left behind holds the connection's drain: the pull request still open when the
dispatcher stopped expires on the server, whose "408 Request Timeout" status then waits in the
subscription's queue with nobody to read it, and nats-py's drain waits for that queue to empty (30 s by
default) before it closes the connection. Every stack's shutdown took up to 30 s longer that way."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from callbridge.common.account_webhooks.delivery import WebhookDispatcher
from callbridge.common.bus import create_broker, ensure_jetstream, open_stores


async def test_stopping_the_dispatcher_unsubscribes_its_pull_consumers(
    nats_url: str, clean_jetstream: None
) -> None:
    broker = create_broker(nats_url)
    connection: Client = await broker.connect()
    try:
        await ensure_jetstream(connection)
        stores = await open_stores(broker)
        before = set(connection._subs)
        dispatcher = WebhookDispatcher(
            connection, stores.webhooks, stores.webhook_progress, stores.calls, lambda secret: secret
        )
        async with dispatcher:
            assert len(set(connection._subs) - before) > 0  # it pulls from its consumers meanwhile
            await asyncio.sleep(0)  # the pull loops start their first fetch
        assert set(connection._subs) - before == set()
        async with asyncio.timeout(5):  # drain waits for what a subscription still holds
            await connection.drain()
    finally:
        if not connection.is_closed:
            await connection.close()
