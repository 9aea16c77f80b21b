"""playDtmfSounds out of band (provider_dtmf.py) against a real nats-server: which calls go out of band,
what the command to the transfer service carries, and the wait for its outcome, played in band when none
comes in time. Here the test stands in for the transfer service; end to end: tests/e2e/test_ivr.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest
from nats.aio.msg import Msg

from callbridge.common import buckets, subjects
from callbridge.common.call_control import (
    COMMANDS,
    CallControlPublisher,
    CommandClaim,
    SendDtmf,
    ensure_call_control_stream,
)
from callbridge.common.events import DtmfSent
from callbridge.common.models.medium import CallMedium, Provider
from callbridge.common.secrets import SecretBox
from callbridge.common.store import KvStore
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.media.provider_dtmf import ProviderDtmf
from callbridge.telephony import TelephonyConfigs
from callbridge.transfer.claims import CommandClaims
from tests.e2e.helpers import SECRET_KEY
from tests.e2e.outbound import stored_config
from tests.media.sessions import CallRecords, store_call


@pytest.fixture
async def claims(records: CallRecords) -> KvStore[CommandClaim]:
    """The transfer service's claims of call-control commands (callbridge_call_control)."""
    bucket = await records.connection.jetstream().create_key_value(bucket=buckets.CALL_CONTROL)
    return KvStore(bucket, CommandClaim)


@pytest.fixture
async def dtmf(records: CallRecords, claims: KvStore[CommandClaim]) -> ProviderDtmf:
    js = records.connection.jetstream()
    await ensure_call_control_stream(js)
    configs = TelephonyConfigs(records.stores.telephony_configs)
    box = SecretBox(SECRET_KEY)
    for provider in (Provider.TELNYX, Provider.PLIVO, Provider.TWILIO):
        await configs.store(provider).put(provider.value, stored_config(new_account(provider), provider, box))
    return ProviderDtmf(
        records.connection, CallControlPublisher(js), records.stores.calls, configs, claims, timeout_s=0.5
    )


async def call_on(records: CallRecords, provider: Provider) -> UUID:
    call = await store_call(records, medium=CallMedium.for_provider(provider))
    return call.call_id


@pytest.fixture
async def commands(records: CallRecords) -> AsyncIterator[asyncio.Queue[SendDtmf]]:
    """The SendDtmf commands published (a core subscription beside the work queue's consumer)."""
    queue: asyncio.Queue[SendDtmf] = asyncio.Queue()

    async def on_command(msg: Msg) -> None:
        command = COMMANDS.validate_json(msg.data)
        assert isinstance(command, SendDtmf)
        queue.put_nowait(command)

    subscription = await records.connection.subscribe(subjects.call_control("send_dtmf"), cb=on_command)
    yield queue
    await subscription.unsubscribe()


async def answer(records: CallRecords, command: SendDtmf, outcome: str, detail: str | None = None) -> None:
    """The transfer service's outcome event for ``command``."""
    event = DtmfSent(
        call_id=command.call_id,
        command_id=command.command_id,
        outcome=outcome,  # type: ignore[arg-type]  # "sent" or "failed"
        digits=command.digits,
        origin=command.origin,
        detail=detail,
    )
    await records.connection.publish(subjects.call_event(command.call_id, DtmfSent.EVENT), event.to_json())


async def test_telnyx_keys_wait_for_the_providers_word(
    records: CallRecords, dtmf: ProviderDtmf, commands: asyncio.Queue[SendDtmf]
) -> None:
    call_id = await call_on(records, Provider.TELNYX)
    subscriptions = len(records.connection._subs)
    pressing = asyncio.create_task(
        dtmf.send_dtmf(call_id, "12#", tone_s=0.25, space_s=0.3, invocation_id="menu-1")
    )
    command = await asyncio.wait_for(commands.get(), 5.0)
    other = command.model_copy(update={"command_id": uuid4()})
    await answer(records, other, "failed", "another command's outcome")  # not this one's: ignored
    await answer(records, command, "sent")
    result = await asyncio.wait_for(pressing, 5.0)
    assert result.sent
    assert (command.origin, command.invocation_id, command.digits, command.tone_duration) == (
        "agent",
        "menu-1",
        "12#",
        0.25,
    )
    assert len(records.connection._subs) == subscriptions  # the outcome's subscription is gone


async def test_a_refusal_or_no_word_in_time_plays_the_keys_in_band(
    records: CallRecords,
    dtmf: ProviderDtmf,
    commands: asyncio.Queue[SendDtmf],
    claims: KvStore[CommandClaim],
) -> None:
    call_id = await call_on(records, Provider.PLIVO)
    subscriptions = len(records.connection._subs)
    pressing = asyncio.create_task(dtmf.send_dtmf(call_id, "9", tone_s=0.2, space_s=0.1))
    command = await asyncio.wait_for(commands.get(), 5.0)
    assert command.tone_duration is None  # Plivo chooses the key length itself (it refuses one)
    await answer(records, command, "failed", "call not in a state to take DTMF")
    refused = await asyncio.wait_for(pressing, 5.0)
    unanswered = await dtmf.send_dtmf(call_id, "9", tone_s=0.2, space_s=0.1)  # nobody answers it
    late = await asyncio.wait_for(commands.get(), 5.0)
    # The unanswered command was withdrawn: a transfer replica taking it late finds it claimed, so the
    # keys played in band are not pressed out of band as well.
    assert not await CommandClaims(claims).claim(str(late.command_id), late.command, late.model_dump_json())
    assert (refused.sent, refused.in_band_because) == (
        False,
        "Plivo refused them out of band: call not in a state to take DTMF",
    )
    assert (unanswered.sent, unanswered.in_band_because) == (
        False,
        "Plivo did not take them out of band within 0.5 s",
    )
    assert len(records.connection._subs) == subscriptions


async def test_twilio_and_odd_tone_lengths_go_in_band_without_asking(
    records: CallRecords, dtmf: ProviderDtmf, commands: asyncio.Queue[SendDtmf]
) -> None:
    twilio = await call_on(records, Provider.TWILIO)
    telnyx = await call_on(records, Provider.TELNYX)
    results = [
        await dtmf.send_dtmf(twilio, "1", tone_s=0.2, space_s=0.1),
        await dtmf.send_dtmf(telnyx, "1", tone_s=0.05, space_s=0.1),  # under Telnyx's 100 ms
    ]
    assert [(result.sent, result.in_band_because) for result in results] == [(False, None), (False, None)]
    assert commands.empty()


async def test_a_command_the_transfer_service_took_in_time_is_waited_for_once_more(
    records: CallRecords,
    dtmf: ProviderDtmf,
    commands: asyncio.Queue[SendDtmf],
    claims: KvStore[CommandClaim],
) -> None:
    """The transfer service claimed the command before the wait ran out (the provider is slow to answer):
    the keys may be on their way, so media waits for the outcome once more rather than play them too."""
    call_id = await call_on(records, Provider.TELNYX)
    pressing = asyncio.create_task(dtmf.send_dtmf(call_id, "5", tone_s=0.2, space_s=0.1))
    command = await asyncio.wait_for(commands.get(), 5.0)
    assert await CommandClaims(claims).claim(str(command.command_id), command.command, "")
    await asyncio.sleep(0.7)  # past media's first wait (0.5 s): the provider is slow, as it may be
    await answer(records, command, "sent")
    result = await asyncio.wait_for(pressing, 5.0)
    assert result.sent
