"""The KV store with records it cannot read or could not read back: unreadable ones are named, left out of
listings and deletable; ones too large for a NATS message or not encodable as JSON are never written."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue
from pydantic import BaseModel

from callbridge.common.store import (
    CorruptRecordError,
    KvStore,
    NotFoundError,
    RecordTooLargeError,
    UnencodableRecordError,
)


class Note(BaseModel):
    text: str


@pytest.fixture
async def kv(nats_client: Client, clean_jetstream: None) -> KeyValue:
    return await nats_client.jetstream().create_key_value(bucket="test_notes", history=5)


async def test_an_unreadable_record_is_named_left_out_of_listings_and_deletable(kv: KeyValue) -> None:
    store = KvStore(kv, Note)
    await store.put("good", Note(text="hello"))
    await kv.put("bad", b'{"text": 42}')
    with pytest.raises(CorruptRecordError) as unreadable:
        await store.get("bad")
    assert (unreadable.value.model, unreadable.value.key, unreadable.value.raw) == (
        "Note",
        "bad",
        b'{"text": 42}',
    )
    assert [note.text for note in await store.all()] == ["hello"]
    assert await store.keys() == ["bad", "good"]
    await store.delete("bad")
    assert await store.keys() == ["good"]
    with pytest.raises(NotFoundError):
        await store.delete("bad")


async def test_a_record_over_the_servers_max_payload_is_not_written(kv: KeyValue) -> None:
    store = KvStore(kv, Note)
    assert store.max_payload == 1024 * 1024  # nats-server's default, read from its INFO
    with pytest.raises(RecordTooLargeError, match="max_payload of 1048576 bytes") as too_large:
        await store.put("big", Note(text="x" * store.max_payload))
    assert too_large.value.size > store.max_payload
    await store.put("fits", Note(text="x" * (store.max_payload - 8192)))
    assert await store.keys() == ["fits"]


async def test_a_record_that_cannot_be_encoded_is_not_written(kv: KeyValue) -> None:
    store = KvStore(kv, Note)
    with pytest.raises(UnencodableRecordError, match="surrogates not allowed"):
        await store.put("a", Note(text="\ud800"))
    assert await store.keys() == []
