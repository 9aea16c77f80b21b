"""The command worker against a real nats-server and a simulated provider account: two replicas holding the
same command carry it out once; a provider hang-up the provider did not answer is given back and done on
the next delivery; a command the provider cannot do is announced as failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from faststream.nats import NatsBroker

from callbridge.common import buckets
from callbridge.common.bus import (
    EventPublisher,
    Stores,
    connect_broker,
    create_broker,
    ensure_jetstream,
    open_stores,
    stop_broker,
)
from callbridge.common.call_control import CLAIM_TTL, CommandClaim, ProviderHangUp, SendDtmf
from callbridge.common.command_client import MediaCommands
from callbridge.common.events import DtmfSent
from callbridge.common.ids import new_call_id
from callbridge.common.models.call import Call, ProviderDetails
from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.secrets import SecretBox
from callbridge.common.store import KvStore
from callbridge.devkit.simulators.rest import SimulatedRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.timeline import follow_call
from callbridge.telephony import RestClients, TelephonyApiSettings, TelephonyConfigs
from callbridge.transfer.claims import CommandClaims
from callbridge.transfer.executor import CommandExecutor, Outcome, RetryLater
from tests.e2e.helpers import SECRET_KEY
from tests.e2e.outbound import stored_config

PROVIDER_CALL_ID = "v3:live-call"


@pytest.fixture
async def broker(nats_url: str, clean_jetstream: None) -> AsyncIterator[NatsBroker]:
    broker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    try:
        yield broker
    finally:
        await stop_broker(broker)


async def executor(broker: NatsBroker, stores: Stores, provider: Provider, api_url: str) -> CommandExecutor:
    kv = await broker.key_value(buckets.CALL_CONTROL, ttl=CLAIM_TTL.total_seconds())
    clients = RestClients(
        TelephonyConfigs(stores.telephony_configs),
        SecretBox(SECRET_KEY).decrypt,
        # The environment's settings (the timeout), with the simulated account's URL.
        TelephonyApiSettings().model_copy(update={f"{provider.value}_api_url": api_url}),
    )
    assert broker.connection is not None
    return CommandExecutor(
        stores,
        CommandClaims(KvStore(kv, CommandClaim)),
        EventPublisher(broker),
        clients,
        MediaCommands(broker.connection),
        "http://127.0.0.1:9",
    )


async def live_call(stores: Stores, account: SimulatedRestApi, provider: Provider) -> Call:
    await (
        TelephonyConfigs(stores.telephony_configs)
        .store(provider)
        .create(provider.value, stored_config(account, provider, SecretBox(SECRET_KEY)))
    )
    account.add_call(PROVIDER_CALL_ID)
    call = Call(
        call_id=new_call_id(),
        created=datetime.now(UTC),
        joined=datetime.now(UTC),
        join_timeout=timedelta(seconds=30),
        medium=CallMedium.for_provider(provider),
        provider_details=ProviderDetails(provider=provider, call_id=PROVIDER_CALL_ID),
    )
    await stores.calls.create(str(call.call_id), call)
    return call


async def test_two_replicas_holding_the_same_command_send_the_keys_once(
    broker: NatsBroker, nats_url: str
) -> None:
    stores = await open_stores(broker)
    account = new_account(Provider.TELNYX)
    async with account.serve() as api_url:
        call = await live_call(stores, account, Provider.TELNYX)
        first = await executor(broker, stores, Provider.TELNYX, api_url)
        second = await executor(broker, stores, Provider.TELNYX, api_url)
        command = SendDtmf(call_id=call.call_id, digits="42#")
        async with follow_call(nats_url, str(call.call_id)) as events:
            outcomes = [await first.execute(command), await second.execute(command)]
            sent = await events.get()
    assert outcomes == [Outcome.DONE, Outcome.ALREADY_CLAIMED]
    assert account.calls[PROVIDER_CALL_ID].dtmf_sent == ["42#"]
    assert isinstance(sent, DtmfSent)
    assert (sent.outcome, sent.command_id) == ("sent", command.command_id)


async def test_a_hang_up_the_provider_did_not_answer_is_done_on_the_next_delivery(
    broker: NatsBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_PROVIDER_API_TIMEOUT_S", "0.3")
    stores = await open_stores(broker)
    account = new_account(Provider.PLIVO)
    async with account.serve() as api_url:
        call = await live_call(stores, account, Provider.PLIVO)
        worker = await executor(broker, stores, Provider.PLIVO, api_url)
        command = ProviderHangUp.after_end(call.call_id)
        with account.stalled(), pytest.raises(RetryLater):
            await worker.execute(command)
        assert await worker.execute(command) is Outcome.DONE
        assert await worker.execute(command) is Outcome.ALREADY_CLAIMED
    assert account.calls[PROVIDER_CALL_ID].hung_up_by_api


async def test_keys_on_a_provider_without_a_dtmf_api_are_announced_as_failed(broker: NatsBroker) -> None:
    stores = await open_stores(broker)
    account = new_account(Provider.TWILIO)
    async with account.serve() as api_url:
        call = await live_call(stores, account, Provider.TWILIO)
        worker = await executor(broker, stores, Provider.TWILIO, api_url)
        assert await worker.execute(SendDtmf(call_id=call.call_id, digits="1")) is Outcome.FAILED
    assert account.requests == []
