"""Opening the buckets against a real nats-server, including ones an older version created differently."""

from __future__ import annotations

from datetime import timedelta

from nats.aio.client import Client
from nats.js.api import KeyValueConfig

from callbridge.common import buckets
from callbridge.common.bus import create_broker, open_stores
from callbridge.common.models.provider_calls import ProviderCallLink


async def test_the_provider_call_index_loses_the_ttl_an_older_version_gave_it(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    js = nats_client.jetstream()
    old = await js.create_key_value(
        KeyValueConfig(bucket=buckets.PROVIDER_CALLS, ttl=timedelta(days=7).total_seconds())
    )
    await old.put("twilio.CA1", b'{"callId": "6f1c1f43-7b9e-4a3f-9a51-1f6d2a1f0b77"}')
    broker = create_broker(nats_url)
    await broker.connect()
    try:
        stores = await open_stores(broker)
        link = await stores.provider_calls.get("twilio.CA1")
    finally:
        await broker.stop()
    assert link.value == ProviderCallLink.model_validate({"callId": "6f1c1f43-7b9e-4a3f-9a51-1f6d2a1f0b77"})
    assert link.value.first_seen is None
    info = await js.stream_info(f"KV_{buckets.PROVIDER_CALLS}")
    assert not info.config.max_age  # kept as long as the calls
    replays = await js.stream_info(f"KV_{buckets.WEBHOOK_REPLAYS}")
    assert replays.config.max_age == buckets.WEBHOOK_REPLAYS_TTL.total_seconds()
