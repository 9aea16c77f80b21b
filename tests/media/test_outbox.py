"""The event outbox: one ordered, bounded queue per replica, published by one task that retries while NATS is
away, so a call's audio never waits on NATS. The publisher here is a double that can fail on demand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from callbridge.common.events import CallEvent, DtmfReceived
from callbridge.media.outbox import EventOutbox
from tests.media.fakes import FlakyPublisher


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def digits(count: int) -> list[CallEvent]:
    call_id = uuid4()
    return [DtmfReceived(call_id=call_id, digit=str(n % 10)) for n in range(count)]


@pytest.fixture
async def publisher() -> FlakyPublisher:
    return FlakyPublisher()


@pytest.fixture
async def outbox(publisher: FlakyPublisher) -> AsyncIterator[EventOutbox]:
    box = EventOutbox(publisher, max_pending=8, retry_delay_s=0.01, max_attempts=4)
    box.start()
    try:
        yield box
    finally:
        await box.close(timeout_s=1.0)


async def test_events_are_published_in_the_order_they_were_emitted(
    outbox: EventOutbox, publisher: FlakyPublisher
) -> None:
    events = digits(8)
    for event in events:
        outbox.emit(event)
    assert await outbox.flush(5.0)
    assert publisher.published == events


async def test_while_nats_is_away_an_event_is_retried_and_the_ones_after_it_wait_their_turn(
    outbox: EventOutbox, publisher: FlakyPublisher
) -> None:
    publisher.failures_left = 3  # three attempts fail, the fourth (the last allowed) succeeds
    events = digits(3)
    for event in events:
        outbox.emit(event)
    assert await outbox.flush(5.0)
    assert publisher.published == events
    assert publisher.attempts == 3 + 3


async def test_an_event_nats_never_takes_is_given_up_counted_and_the_next_goes_out(
    outbox: EventOutbox, publisher: FlakyPublisher
) -> None:
    given_up = sample("callbridge_media_events_given_up_total")
    publisher.failures_left = 4  # every attempt at the first event
    events = digits(2)
    for event in events:
        outbox.emit(event)
    assert await outbox.flush(5.0)
    assert publisher.published == events[1:]
    assert sample("callbridge_media_events_given_up_total") == given_up + 1


async def test_a_full_outbox_drops_what_does_not_fit_and_counts_it_in_the_metrics(
    outbox: EventOutbox, publisher: FlakyPublisher
) -> None:
    dropped = sample("callbridge_media_events_dropped_total")
    publisher.hold.clear()  # the publisher is stuck: nothing leaves the queue
    events = digits(12)
    outbox.emit(events[0])
    await publisher.waiting.wait()  # the worker has taken the first event and is stuck publishing it
    for event in events[1:]:
        outbox.emit(event)  # never waits, however full
    assert outbox.dropped == 12 - 1 - 8  # one in the publisher's hands, eight queued
    assert sample("callbridge_media_events_dropped_total") == dropped + 3
    publisher.hold.set()
    assert await outbox.flush(5.0)
    assert publisher.published == events[:9]
