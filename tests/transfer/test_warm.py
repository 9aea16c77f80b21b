"""What a call's end decides about a warm transfer, with the transfer's state in a real KV bucket: the human's
leg ending busy, unanswered or hung up; the caller hanging up while the human is called; nothing once it is
decided or for a call that is no part of one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID

import pytest
from faststream.nats import NatsBroker
from nats.js.kv import KeyValue

from callbridge.common import buckets
from callbridge.common.bus import connect_broker, create_broker, ensure_jetstream, stop_broker
from callbridge.common.call_control import CLAIM_TTL, CommandClaim
from callbridge.common.commands import VOICEMAIL_END_DETAIL
from callbridge.common.events import CallEnded
from callbridge.common.ids import new_call_id
from callbridge.common.models.call import Call, EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import (
    ANY_COMMAND,
    MAX_CONTEXT_CHARS,
    MAX_TEMPLATE_CHARS,
    WarmTransfer,
    WarmTransferDecided,
    WarmTransferState,
    state_key,
)
from callbridge.transfer.claims import CommandClaims
from callbridge.transfer.warm import WarmTransfers
from callbridge.transfer.warm_leg import decision_after_end, leg_settings


@pytest.fixture
async def bucket(nats_url: str, clean_jetstream: None) -> AsyncIterator[KeyValue]:
    """The ``callbridge_call_control`` bucket, where claims and warm transfers' states live."""
    broker: NatsBroker = create_broker(nats_url)
    connection = await connect_broker(broker, nats_url)
    await ensure_jetstream(connection)
    try:
        yield await broker.key_value(buckets.CALL_CONTROL, ttl=CLAIM_TTL.total_seconds())
    finally:
        await stop_broker(broker)


@pytest.fixture
def states(bucket: KeyValue) -> KvStore[WarmTransferState]:
    return KvStore(bucket, WarmTransferState)


def call(transfer_of: UUID | None = None) -> Call:
    return Call(call_id=new_call_id(), created=datetime.now(UTC), transfer_of=transfer_of)


def ended(of: Call, reason: EndReason, detail: str | None = None) -> CallEnded:
    return CallEnded(call_id=of.call_id, end_reason=reason, detail=detail)


@pytest.mark.parametrize(
    ("reason", "decision"),
    [
        (EndReason.BUSY, "busy"),
        (EndReason.NO_ANSWER, "no_answer"),
        (EndReason.UNJOINED, "no_answer"),
        (EndReason.DIAL_FAILED, "failed"),
        (EndReason.HANGUP, "declined"),
        (EndReason.AGENT_HANGUP, "declined"),
    ],
)
async def test_the_legs_end_decides_with_its_reason(
    states: KvStore[WarmTransferState], reason: EndReason, decision: str
) -> None:
    first = new_call_id()
    leg = call(transfer_of=first)
    decided = await decision_after_end(leg, ended(leg, reason), states)
    again = await decision_after_end(leg, ended(leg, reason), states)
    assert isinstance(decided, WarmTransferDecided)
    assert (decided.call_id, decided.decision, decided.leg_call_id) == (first, decision, leg.call_id)
    assert again is not None
    assert again.command_id == decided.command_id  # the same end seen twice is one command


async def test_a_voicemail_the_legs_agent_left_is_voicemail(states: KvStore[WarmTransferState]) -> None:
    leg = call(transfer_of=new_call_id())
    decided = await decision_after_end(leg, ended(leg, EndReason.AGENT_HANGUP, VOICEMAIL_END_DETAIL), states)
    assert decided is not None
    assert decided.decision == "voicemail"


async def test_a_joined_leg_decides_nothing(states: KvStore[WarmTransferState]) -> None:
    leg = call(transfer_of=new_call_id())
    assert await decision_after_end(leg, ended(leg, EndReason.TRANSFERRED), states) is None


async def test_the_caller_leaving_while_the_human_is_called_is_caller_left_and_only_then(
    states: KvStore[WarmTransferState],
) -> None:
    caller, bystander = call(), call()
    await states.create(
        state_key(caller.call_id), WarmTransferState(call_id=caller.call_id, target="+15550001")
    )
    left = await decision_after_end(caller, ended(caller, EndReason.HANGUP), states)
    nothing = await decision_after_end(bystander, ended(bystander, EndReason.HANGUP), states)
    found = await states.find(state_key(caller.call_id))
    assert found is not None
    await states.update(
        state_key(caller.call_id), found.value.model_copy(update={"phase": "decided"}), found.revision
    )
    after = await decision_after_end(caller, ended(caller, EndReason.HANGUP), states)
    assert left is not None
    assert (left.call_id, left.decision) == (caller.call_id, "caller_left")
    assert nothing is None
    assert after is None


async def test_a_decision_about_an_earlier_human_does_not_decide_the_transfer_under_way(
    states: KvStore[WarmTransferState],
) -> None:
    caller, earlier_leg, leg = new_call_id(), new_call_id(), new_call_id()
    state = WarmTransferState(call_id=caller, leg_call_id=leg, target="+15550001")
    await states.create(state_key(caller), state)
    # Nothing else is reached on this path: the stores, clients and media are not needed.
    unused = cast(Any, None)
    stores = cast(Any, SimpleNamespace(calls=None))
    transfers = WarmTransfers(stores, states, unused, unused, unused, unused, "http://127.0.0.1:9")
    stale = WarmTransferDecided.once(caller, "declined", "late", leg_call_id=earlier_leg)
    assert not await transfers.decide(stale)
    found = await states.find(state_key(caller))
    assert found is not None
    assert found.value.phase == "dialing"


def test_the_humans_call_is_the_callers_medium_and_agent_with_the_prompt_and_the_decision_tools() -> None:
    caller = Call.model_validate(
        {
            "callId": str(new_call_id()),
            "created": datetime.now(UTC).isoformat(),
            "medium": {
                "telnyx": {
                    "codec": "L16",
                    "sampleRate": 16000,
                    "outgoing": {"to": "+15550001111", "from": "+15550002222"},
                }
            },
            "agentBackend": {"echo": {"sampleRate": 16000}},
        }
    )
    command = WarmTransfer(
        call_id=caller.call_id,
        target="+15557654321",
        context="a billing question.",
        transfer_system_prompt_template="Brief them: {context} Then ask.",
        ring_timeout_s=12,
    )
    settings = leg_settings(caller, command, Provider.TELNYX)
    assert settings.system_prompt == "Brief them: a billing question. Then ask."
    assert settings.medium is not None
    assert settings.medium.model_dump(by_alias=True, exclude_none=True)["telnyx"] == {
        "codec": "L16",
        "sampleRate": 16000,
        "outgoing": {"to": "+15557654321", "from": "+15550002222", "additionalParams": {}},
    }
    assert settings.join_timeout == timedelta(seconds=15)  # the dial rings 12 s (the dialer keeps 2 s)
    assert settings.max_duration == timedelta(minutes=5)
    assert [tool.tool_name for tool in settings.selected_tools or []] == [
        "acceptTransfer",
        "declineTransfer",
        "leaveVoicemail",
    ]
    assert settings.agent_backend == caller.agent_backend


async def test_a_warm_transfer_with_its_longest_texts_is_claimed_and_read_back(bucket: KeyValue) -> None:
    command = WarmTransfer(
        call_id=new_call_id(),
        target="+15557654321",
        context='"' * MAX_CONTEXT_CHARS,  # each one escaped in the JSON kept with the claim
        transfer_system_prompt_template="\\" * MAX_TEMPLATE_CHARS,
    )
    claims = CommandClaims(KvStore(bucket, CommandClaim))
    assert await claims.claim(str(command.command_id), command.command, command.model_dump_json())
    body = await claims.body(str(command.command_id))
    assert body is not None
    assert ANY_COMMAND.validate_json(body) == command
