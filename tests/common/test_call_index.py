"""The paged index chains against a real nats-server: order, cursors, concurrency, expiry, time bounds."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue

from callbridge.common.call_index import PAGE_ENTRIES, CallIndex, IndexEntry, Position


@pytest.fixture
async def kv(nats_client: Client, clean_jetstream: None) -> KeyValue:
    return await nats_client.jetstream().create_key_value(bucket="test_index", history=1)


def entry(n: int) -> IndexEntry:
    return IndexEntry(uuid.UUID(int=n + 1), 1_000_000 + n * 10, 1_000_000 + n * 10)


async def read_all(index: CallIndex, chain: str, page_size: int) -> list[IndexEntry]:
    """Follow the cursors from the newest entry to the oldest."""
    found: list[IndexEntry] = []
    position: Position | None = None
    while True:
        chunk = await index.read(chain, position, page_size)
        assert len(chunk.entries) <= page_size
        found += chunk.entries
        if chunk.next is None:
            return found
        assert len(chunk.entries) == page_size  # only the last slice may be short
        position = chunk.next


async def test_entries_come_back_newest_first_across_pages(kv: KeyValue) -> None:
    index = CallIndex(kv)
    entries = [entry(n) for n in range(3 * PAGE_ENTRIES + 5)]
    for item in entries:
        await index.append("c", item)
    assert await read_all(index, "c", 10) == entries[::-1]
    assert await read_all(index, "c", 1000) == entries[::-1]
    assert await index.count("c") == len(entries)
    # The full pages were sealed as documents, the rest is in the head.
    keys = set(await kv.keys())
    assert {"c.page.0", "c.page.1", "c.page.2", "c.head"} <= keys


async def test_an_empty_chain_lists_nothing(kv: KeyValue) -> None:
    index = CallIndex(kv)
    chunk = await index.read("nothing", None, 10)
    assert chunk.entries == []
    assert chunk.next is None
    assert await index.count("nothing") == 0


async def test_concurrent_appends_from_two_replicas_lose_and_repeat_nothing(kv: KeyValue) -> None:
    # Two CallIndex objects are two processes: grouping happens within each, compare-and-set between them.
    first, second = CallIndex(kv), CallIndex(kv)
    entries = [entry(n) for n in range(700)]
    await asyncio.gather(*((first if n % 2 else second).append("c", item) for n, item in enumerate(entries)))
    listed = await read_all(first, "c", 97)
    assert sorted(listed) == sorted(entries)
    assert len(set(listed)) == len(entries)
    assert await second.count("c") == len(entries)


async def test_a_cursor_stays_valid_while_new_entries_arrive(kv: KeyValue) -> None:
    index = CallIndex(kv)
    for n in range(100):
        await index.append("c", entry(n))
    first = await index.read("c", None, 30)
    assert first.next is not None
    for n in range(100, 250):  # a burst: the head fills, pages are sealed, the cursor's page moves on
        await index.append("c", entry(n))
    rest = await index.read("c", first.next, 1000)
    assert first.entries + rest.entries == [entry(n) for n in range(99, -1, -1)]


async def test_a_head_holding_more_than_a_page_reads_as_the_pages_it_will_become(kv: KeyValue) -> None:
    # A writer that died between writing a grown head and sealing it leaves such a head behind.
    entries = [entry(n) for n in range(PAGE_ENTRIES + 10)]
    await kv.put("c.head", orjson.dumps({"p": 0, "e": [item.encode() for item in entries], "r": 0}))
    index = CallIndex(kv)
    assert await read_all(index, "c", 7) == entries[::-1]
    await index.append("c", entry(500))  # the next writer seals it first
    assert (await read_all(index, "c", 50)) == [entry(500), *entries[::-1]]
    assert "c.page.0" in set(await kv.keys())


async def test_expired_pages_end_the_listing_and_leave_the_count(kv: KeyValue) -> None:
    index = CallIndex(kv)
    entries = [entry(n) for n in range(4 * PAGE_ENTRIES + 3)]
    for item in entries:
        await index.append("c", item)
    # Retention removes the oldest pages first (the bucket's max age); here by hand.
    await kv.purge("c.page.0")
    await kv.purge("c.page.1")
    assert await read_all(index, "c", 50) == entries[2 * PAGE_ENTRIES :][::-1]
    assert await index.count("c") == len(entries) - 2 * PAGE_ENTRIES


async def test_removed_entries_leave_the_count(kv: KeyValue) -> None:
    index = CallIndex(kv)
    for n in range(10):
        await index.append("c", entry(n))
    await index.note_removed("c")
    assert await index.count("c") == 9


async def test_time_bounds_are_found_by_position(kv: KeyValue) -> None:
    index = CallIndex(kv)
    entries = [entry(n) for n in range(5 * PAGE_ENTRIES)]
    for item in entries:
        await index.append("c", item)
    for cut in (0, 1, 63, 64, 65, 200, 5 * PAGE_ENTRIES - 1, 5 * PAGE_ENTRIES):
        bound_ms = 1_000_000 + cut * 10
        position = await index.position_before("c", bound_ms)
        assert position.ordinal == cut
        older = await read_all_from(index, "c", position)
        assert older == entries[:cut][::-1]
    # A lower bound stops the listing.
    chunk = await index.read("c", None, 1000, at_after_ms=1_000_000 + 300 * 10)
    assert chunk.entries == entries[300:][::-1]
    assert chunk.next is None


async def read_all_from(index: CallIndex, chain: str, position: Position) -> list[IndexEntry]:
    chunk = await index.read(chain, position, 10_000)
    return chunk.entries
