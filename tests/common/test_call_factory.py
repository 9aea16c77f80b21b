"""The call factory every service creates calls with, against a real nats-server: an outbound call takes
its account's slot and is queued for a dialer once, even when its creator asks twice with the same id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from nats.aio.client import Client

from callbridge.common import subjects
from callbridge.common.bus import (
    EventPublisher,
    Stores,
    connect_broker,
    create_broker,
    ensure_jetstream,
    open_stores,
    stop_broker,
)
from callbridge.common.call_factory import (
    CallExistsError,
    CallFactory,
    CapacityExceededError,
    Outbound,
    ProviderAccount,
)
from callbridge.common.capacity import AccountLimits
from callbridge.common.dialing import DialCall, DialPublisher, ensure_dial_stream
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.models.call import CallOrigin, SealedCallSettings
from callbridge.common.models.medium import OutgoingCall, Provider

SECRET_KEY = "test-secret-key-0123456789-0123456789"
LIMITS = AccountLimits(max_concurrent_calls=1)


async def resolve(provider: Provider, outgoing: OutgoingCall) -> ProviderAccount:
    """A single account with one line (the resolver webhooks uses reads the imported configs)."""
    return ProviderAccount(key=provider.value, limits=LIMITS)


@pytest.fixture
async def factory(nats_url: str, clean_jetstream: None) -> AsyncIterator[tuple[CallFactory, Stores]]:
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    await ensure_dial_stream(connection.jetstream())
    stores = await open_stores(broker)
    outbound = Outbound(accounts=resolve, dials=DialPublisher(connection.jetstream()))
    calls = CallFactory(
        stores.calls,
        stores.call_listing,
        EventPublisher(broker),
        JoinTokenSigner(SECRET_KEY),
        "ws://media.test",
        capacity=stores.capacity,
        outbound=outbound,
    )
    try:
        yield calls, stores
    finally:
        await stop_broker(broker)


def outgoing_settings() -> SealedCallSettings:
    outgoing = {"to": "+15550001111", "from": "+15550002222"}
    return SealedCallSettings.model_validate({"medium": {"plivo": {"outgoing": outgoing}}})


async def queued(nats_client: Client) -> list[DialCall]:
    """The dial requests waiting in the stream, taken off it."""
    js = nats_client.jetstream()
    waiting = (await js.stream_info(subjects.DIAL_STREAM)).state.messages
    subscription = await js.pull_subscribe(
        subjects.DIAL_SUBJECT, durable="test-queued", stream=subjects.DIAL_STREAM
    )
    try:
        messages = await subscription.fetch(waiting, timeout=5) if waiting else []
        for message in messages:
            await message.ack()
    finally:
        await subscription.unsubscribe()
        # A work queue takes one consumer per subject at a time: the next look needs this one gone.
        await js.delete_consumer(subjects.DIAL_STREAM, "test-queued")
    return [DialCall.model_validate_json(message.data) for message in messages]


async def test_a_call_created_twice_with_its_creators_id_is_one_call_dialed_once(
    factory: tuple[CallFactory, Stores], nats_client: Client
) -> None:
    calls, stores = factory
    call_id = uuid4()  # the creator's choice, e.g. derived from a scheduled call and its attempt
    origin = CallOrigin(batch_id=uuid4(), scheduled_call_id=uuid4(), attempt=2)
    created = await calls.create(outgoing_settings(), call_id=call_id, origin=origin)
    with pytest.raises(CallExistsError):
        await calls.create(outgoing_settings(), call_id=call_id, origin=origin)
    record = (await stores.calls.get(str(call_id))).value
    assert (created.call.call_id, record.origin, record.direction) == (call_id, origin, "outbound")
    assert list((await stores.capacity.usage("plivo")).outbound) == [call_id]  # its slot, still held
    assert await queued(nats_client) == [DialCall(call_id=call_id, attempt=1)]


async def test_a_call_over_the_accounts_lines_is_refused_and_leaves_nothing(
    factory: tuple[CallFactory, Stores], nats_client: Client
) -> None:
    calls, stores = factory
    first = await calls.create(outgoing_settings())
    with pytest.raises(CapacityExceededError) as refused:
        await calls.create(outgoing_settings())
    assert refused.value.retry_after_s == 1.0
    assert await stores.calls.keys() == [str(first.call.call_id)]
    assert [dial.call_id for dial in await queued(nats_client)] == [first.call.call_id]


class CrashOnce(DialPublisher):
    """The creator dies the first time it would queue a dial: after the call was stored."""

    def __init__(self, inner: DialPublisher) -> None:
        self._inner = inner
        self.crashed = False

    async def publish(self, request: DialCall) -> None:
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("the creator died here")
        await self._inner.publish(request)


async def test_creating_again_queues_the_dial_of_a_call_its_creator_died_before_queuing(
    factory: tuple[CallFactory, Stores], nats_client: Client
) -> None:
    calls, _ = factory
    crashing = CrashOnce(DialPublisher(nats_client.jetstream()))
    calls._outbound = Outbound(accounts=resolve, dials=crashing)
    call_id = uuid4()
    with pytest.raises(ConnectionError):
        await calls.create(outgoing_settings(), call_id=call_id)
    assert await queued(nats_client) == []
    with pytest.raises(CallExistsError):
        await calls.create(outgoing_settings(), call_id=call_id)
    assert await queued(nats_client) == [DialCall(call_id=call_id, attempt=1)]
