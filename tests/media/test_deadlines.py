"""The deadline consumer on a real nats-server: calls nobody joined end as ``unjoined`` at their join
deadline, calls whose replica was lost (killed: nothing ended them) end as ``connection_error`` after
``maxDuration`` and a grace period (CALLBRIDGE_LOST_CALL_GRACE_S);
each decision alone (``check_deadline``) and through the shared durable JetStream consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from callbridge.common.bus import EventPublisher, connect_broker, create_broker, stop_broker
from callbridge.common.events import CallCreated, CallEnded
from callbridge.common.models.call import Call, EndReason
from callbridge.media.deadlines import LOST_CALL_GRACE, check_deadline, register_deadlines
from tests.media.sessions import CallRecords, store_call

AN_HOUR_AGO = timedelta(hours=1)


async def record_of(records: CallRecords, call: Call) -> Call:
    return (await records.stores.calls.get(str(call.call_id))).value


async def test_an_unjoined_call_past_its_join_deadline_ends_as_unjoined(records: CallRecords) -> None:
    call = await store_call(
        records, created=datetime.now(UTC) - AN_HOUR_AGO, join_timeout=timedelta(seconds=30)
    )
    assert (
        await check_deadline(
            CallCreated(call_id=call.call_id, call=call.public()), records.stores.calls, records.lifecycle
        )
        is None
    )
    ended = await records.published.wait_for(CallEnded)
    assert (ended.end_reason, ended.detail) == (EndReason.UNJOINED, "nobody joined before joinTimeout")
    assert (await record_of(records, call)).end_reason == EndReason.UNJOINED


async def test_an_unjoined_call_before_its_deadline_is_checked_again_when_it_is_due(
    records: CallRecords,
) -> None:
    call = await store_call(records, join_timeout=timedelta(seconds=30))
    delay_s = await check_deadline(
        CallCreated(call_id=call.call_id, call=call.public()), records.stores.calls, records.lifecycle
    )
    assert delay_s is not None
    assert 25.0 < delay_s <= 30.0
    assert (await record_of(records, call)).ended is None


async def test_a_joined_call_is_left_to_its_replica_until_max_duration_and_the_grace_have_passed(
    records: CallRecords,
) -> None:
    call = await store_call(records, max_duration=timedelta(minutes=10))
    joined = await records.lifecycle.claim(call.call_id)
    event = CallCreated(call_id=call.call_id, call=call.public())
    delay_s = await check_deadline(event, records.stores.calls, records.lifecycle)
    assert delay_s is not None
    expected_s = (timedelta(minutes=10) + LOST_CALL_GRACE).total_seconds()
    assert expected_s - 5 < delay_s <= expected_s
    assert joined.joined is not None
    assert (await record_of(records, call)).ended is None


async def test_a_joined_call_still_open_long_past_max_duration_was_lost_and_ends_as_connection_error(
    records: CallRecords,
) -> None:
    created = datetime.now(UTC) - AN_HOUR_AGO
    call = await store_call(records, created=created, max_duration=timedelta(minutes=10))
    await records.stores.calls.mutate(str(call.call_id), lambda c: c.model_copy(update={"joined": created}))
    event = CallCreated(call_id=call.call_id, call=call.public())
    assert await check_deadline(event, records.stores.calls, records.lifecycle) is None
    ended = await records.published.wait_for(CallEnded)
    assert ended.end_reason == EndReason.CONNECTION_ERROR  # issue 10: as when the provider reports it
    assert ended.detail == "media replica lost the call (nothing ended it by maxDuration and the grace)"


async def test_the_grace_after_max_duration_is_a_setting(records: CallRecords) -> None:
    call = await store_call(records, max_duration=timedelta(minutes=10))
    await records.lifecycle.claim(call.call_id)
    event = CallCreated(call_id=call.call_id, call=call.public())
    grace = timedelta(seconds=2)
    delay_s = await check_deadline(event, records.stores.calls, records.lifecycle, lost_call_grace=grace)
    assert delay_s is not None
    expected_s = (timedelta(minutes=10) + grace).total_seconds()
    assert expected_s - 5 < delay_s <= expected_s


async def test_an_ended_or_deleted_call_needs_nothing_more(records: CallRecords) -> None:
    ended = await store_call(records)
    await records.lifecycle.end(ended.call_id, EndReason.HANGUP)
    deleted = await store_call(records)
    await records.stores.calls.delete(str(deleted.call_id))
    for call in (ended, deleted):
        event = CallCreated(call_id=call.call_id, call=call.public())
        assert await check_deadline(event, records.stores.calls, records.lifecycle) is None
    assert (await record_of(records, ended)).end_reason == EndReason.HANGUP


@pytest.fixture
async def consumer(nats_url: str, records: CallRecords) -> AsyncIterator[NatsBroker]:
    """The deadline consumer running on its own broker (as a media replica runs it)."""
    broker = create_broker(nats_url)
    await connect_broker(broker, nats_url)
    register_deadlines(broker, records.stores.calls, records.lifecycle)
    await broker.start()
    try:
        yield broker
    finally:
        await stop_broker(broker)


async def test_the_consumer_ends_a_call_nobody_joins_once_its_join_deadline_passes(
    consumer: NatsBroker, records: CallRecords
) -> None:
    call = await store_call(records, join_timeout=timedelta(seconds=1))
    loop = asyncio.get_running_loop()
    published_at = loop.time()
    await EventPublisher(consumer).publish(CallCreated(call_id=call.call_id, call=call.public()))
    ended = await records.published.wait_for(CallEnded, timeout_s=10.0)
    # Not before the deadline: the consumer put the message back until then (a delayed NAK).
    assert loop.time() - published_at >= 0.5
    assert ended.call_id == call.call_id
    assert ended.end_reason == EndReason.UNJOINED


async def test_the_consumer_leaves_a_call_that_is_joined_in_time(
    consumer: NatsBroker, records: CallRecords
) -> None:
    joined = await store_call(records, join_timeout=timedelta(seconds=1))
    await records.lifecycle.claim(joined.call_id)
    unjoined = await store_call(records, join_timeout=timedelta(seconds=1))
    publisher = EventPublisher(consumer)
    for call in (joined, unjoined):
        await publisher.publish(CallCreated(call_id=call.call_id, call=call.public()))
    ended = await records.published.wait_for(CallEnded, timeout_s=10.0)  # the unjoined one, past its deadline
    assert ended.call_id == unjoined.call_id
    assert (await record_of(records, joined)).ended is None
