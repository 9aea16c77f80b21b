"""Listing a bucket against a real nats-server: every live key, every time.

nats-py's ``KeyValue.keys()`` returned no keys about once in 300 calls on a loaded machine (its watcher
can end before the first entry is counted), which made ``GET /api/calls`` come back empty now and then.
"""

from __future__ import annotations

from nats.aio.client import Client
from pydantic import BaseModel

from callbridge.common.store import KvStore

LISTINGS = 600  # at the measured rate, the old listing fails this test with probability ~0.86


class Record(BaseModel):
    value: int


async def test_listing_returns_every_live_key_every_time(nats_client: Client, clean_jetstream: None) -> None:
    kv = await nats_client.jetstream().create_key_value(bucket="test_listing", history=5)
    store = KvStore(kv, Record)
    for index in range(5):
        await store.put(f"k{index}", Record(value=index))
    await store.mutate("k1", lambda record: Record(value=record.value + 10))
    await store.delete("k4")
    wrong = 0
    for _ in range(LISTINGS):
        wrong += await store.keys() != ["k0", "k1", "k2", "k3"]
    assert wrong == 0
    assert sorted(record.value for record in await store.all()) == [0, 2, 3, 11]
