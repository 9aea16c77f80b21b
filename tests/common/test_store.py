"""The KV store against a real nats-server: create, compare-and-set, concurrent mutation."""

import asyncio

import pytest
from nats.aio.client import Client
from pydantic import BaseModel

from callbridge.common.store import ConflictError, KvStore, NotFoundError, UnchangedError


class Counter(BaseModel):
    value: int


@pytest.fixture
async def store(nats_client: Client, clean_jetstream: None) -> KvStore[Counter]:
    kv = await nats_client.jetstream().create_key_value(bucket="test_counters", history=5)
    return KvStore(kv, Counter)


async def test_create_refuses_an_existing_key(store: KvStore[Counter]) -> None:
    await store.create("a", Counter(value=1))
    with pytest.raises(ConflictError):
        await store.create("a", Counter(value=2))
    assert (await store.get("a")).value.value == 1


async def test_update_with_a_stale_revision_is_refused(store: KvStore[Counter]) -> None:
    revision = await store.create("a", Counter(value=1))
    await store.update("a", Counter(value=2), revision)
    with pytest.raises(ConflictError):
        await store.update("a", Counter(value=3), revision)
    assert (await store.get("a")).value.value == 2


async def test_concurrent_mutations_lose_no_update(store: KvStore[Counter]) -> None:
    await store.create("n", Counter(value=0))

    async def bump() -> None:
        await store.mutate("n", lambda c: Counter(value=c.value + 1))

    await asyncio.gather(*(bump() for _ in range(6)))
    assert (await store.get("n")).value.value == 6


async def test_mutation_can_leave_the_record_unchanged(store: KvStore[Counter]) -> None:
    revision = await store.create("a", Counter(value=1))

    def refuse(counter: Counter) -> Counter:
        raise UnchangedError

    result = await store.mutate("a", refuse)
    assert result.revision == revision


async def test_missing_and_deleted_keys_are_not_found(store: KvStore[Counter]) -> None:
    with pytest.raises(NotFoundError):
        await store.get("nope")
    await store.create("a", Counter(value=1))
    await store.delete("a")
    assert await store.find("a") is None
    assert await store.keys() == []
    with pytest.raises(NotFoundError):
        await store.delete("a")
