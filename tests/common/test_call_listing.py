"""Call listings over the index against a real nats-server: filters, order, cursors, totals, repair."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client

from callbridge.common.call_index import CallIndex
from callbridge.common.call_listing import CallListing, CallQuery, CallStatus, InvalidCursorError
from callbridge.common.ids import new_call_id
from callbridge.common.live_calls import LiveCalls, ensure_live_calls_stream
from callbridge.common.models.call import Call, EndReason
from callbridge.common.store import KvStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AGENTS = [uuid.UUID(int=1000 + n) for n in range(3)]


class Calls:
    def __init__(self, records: KvStore[Call], listing: CallListing) -> None:
        self.records = records
        self.listing = listing

    async def create(self, n: int, agent: uuid.UUID | None) -> Call:
        call = Call(call_id=new_call_id(), agent_id=agent, created=T0 + timedelta(seconds=n))
        await self.records.create(str(call.call_id), call)
        await self.listing.created(call)
        return call

    async def end(self, call: Call, reason: EndReason, *, index: bool = True) -> Call:
        final = call.model_copy(update={"ended": call.created + timedelta(seconds=30), "end_reason": reason})
        await self.records.put(str(call.call_id), final)
        if index:
            await self.listing.ended(final)
        return final

    async def all_pages(self, query: CallQuery, page_size: int) -> tuple[list[Call], list[int]]:
        found: list[Call] = []
        totals: list[int] = []
        cursor: str | None = None
        while True:
            page = await self.listing.page(query, cursor, page_size)
            found += page.results
            totals.append(page.total)
            if page.next_cursor is None:
                return found, totals
            cursor = page.next_cursor


@pytest.fixture
async def calls(nats_client: Client, clean_jetstream: None) -> Calls:
    js = nats_client.jetstream()
    records = KvStore(await js.create_key_value(bucket="test_calls", history=1), Call)
    index = CallIndex(await js.create_key_value(bucket="test_call_index", history=1))
    await ensure_live_calls_stream(js)
    live = LiveCalls(js)
    return Calls(records, CallListing(records, index, live))


def between(call: Call, after_s: int, before_s: int) -> bool:
    return T0 + timedelta(seconds=after_s) <= call.created < T0 + timedelta(seconds=before_s)


def ids(calls: list[Call]) -> list[uuid.UUID]:
    return [call.call_id for call in calls]


async def test_every_filter_lists_exactly_its_calls_newest_first(calls: Calls) -> None:
    created = [await calls.create(n, AGENTS[n % 3] if n % 5 else None) for n in range(150)]
    reasons = [EndReason.HANGUP, EndReason.AGENT_HANGUP, EndReason.CONNECTION_ERROR]
    final = list(created)
    for n, call in enumerate(created):
        if n % 4 == 0:
            final[n] = await calls.end(call, reasons[n % 3])
    newest_first = final[::-1]
    ended_in_order = [call for call in final if call.ended is not None][::-1]  # ended in creation order here

    cases = {
        CallQuery(): newest_first,
        CallQuery(agent_id=AGENTS[1]): [c for c in newest_first if c.agent_id == AGENTS[1]],
        CallQuery(status=CallStatus.LIVE): [c for c in newest_first if c.ended is None],
        CallQuery(status=CallStatus.ENDED): ended_in_order,
        CallQuery(end_reason=EndReason.HANGUP): [
            c for c in ended_in_order if c.end_reason is EndReason.HANGUP
        ],
        CallQuery(agent_id=AGENTS[2], end_reason=EndReason.AGENT_HANGUP): [
            c for c in ended_in_order if c.agent_id == AGENTS[2] and c.end_reason is EndReason.AGENT_HANGUP
        ],
        CallQuery(agent_id=AGENTS[0], status=CallStatus.LIVE): [
            c for c in newest_first if c.agent_id == AGENTS[0] and c.ended is None
        ],
        CallQuery(created_after=T0 + timedelta(seconds=100)): [
            c for c in newest_first if c.created >= T0 + timedelta(seconds=100)
        ],
        CallQuery(created_before=T0 + timedelta(seconds=70)): [
            c for c in newest_first if c.created < T0 + timedelta(seconds=70)
        ],
        CallQuery(
            agent_id=AGENTS[1],
            created_after=T0 + timedelta(seconds=20),
            created_before=T0 + timedelta(seconds=90),
        ): [c for c in newest_first if c.agent_id == AGENTS[1] and between(c, 20, 90)],
        CallQuery(status=CallStatus.ENDED, created_before=T0 + timedelta(seconds=60)): [
            c for c in ended_in_order if c.created < T0 + timedelta(seconds=60)
        ],
    }
    for query, expected in cases.items():
        for page_size in (7, 1000):
            listed, totals = await calls.all_pages(query, page_size)
            assert ids(listed) == ids(expected), query
            if query.ended_only and (query.created_after or query.created_before):
                # Ended calls are ordered by end: with created bounds the total is an upper bound.
                assert len(expected) <= totals[0] <= len(ended_in_order), query
            else:
                assert totals[0] == len(expected), query


async def test_a_cursor_is_refused_for_other_filters_and_when_forged(calls: Calls) -> None:
    for n in range(5):
        await calls.create(n, AGENTS[0])
    page = await calls.listing.page(CallQuery(), None, 2)
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursorError):
        await calls.listing.page(CallQuery(agent_id=AGENTS[0]), page.next_cursor, 2)
    with pytest.raises(InvalidCursorError):
        await calls.listing.page(CallQuery(), "not-a-cursor!", 2)


async def test_deleted_and_unreadable_calls_are_skipped_not_fatal(calls: Calls) -> None:
    created = [await calls.create(n, None) for n in range(10)]
    await calls.records.delete(str(created[3].call_id))
    await calls.listing.removed(created[3])
    # A record that no longer parses (written by hand: the API refuses what it cannot read back).
    await calls.records._kv.put(str(created[5].call_id), b'{"callId": "not a uuid"}')
    listed, totals = await calls.all_pages(CallQuery(), 3)
    assert ids(listed) == [c.call_id for n, c in enumerate(created) if n not in (3, 5)][::-1]
    assert totals[0] == 9  # the unreadable record is still stored: it counts until deleted


async def test_a_call_ended_without_its_index_entry_is_repaired_by_the_live_listing(calls: Calls) -> None:
    call = await calls.create(0, AGENTS[0])
    final = await calls.end(call, EndReason.HANGUP, index=False)  # the writer died here
    page = await calls.listing.page(CallQuery(status=CallStatus.LIVE), None, 10)
    assert page.results == []
    ended = await calls.listing.page(CallQuery(end_reason=EndReason.HANGUP), None, 10)
    assert ids(ended.results) == [final.call_id]


async def test_concurrent_creation_lists_every_call_once(calls: Calls) -> None:
    created = await asyncio.gather(*(calls.create(n, AGENTS[n % 2]) for n in range(300)))
    listed, totals = await calls.all_pages(CallQuery(), 64)
    assert sorted(ids(listed)) == sorted(ids(list(created)))
    assert totals[0] == 300
    agent_listed, _ = await calls.all_pages(CallQuery(agent_id=AGENTS[1]), 50)
    assert sorted(ids(agent_listed)) == sorted(c.call_id for c in created if c.agent_id == AGENTS[1])
