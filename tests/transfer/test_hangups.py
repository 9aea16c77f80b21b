"""Which ended calls the transfer service hangs up at the provider: those that ended on callbridge's side,
inbound or outbound, and never one the provider ended, a transferred one, or one never placed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from callbridge.common.call_control import ProviderHangUp
from callbridge.common.events import CallEnded
from callbridge.common.ids import new_call_id
from callbridge.common.models.call import Call, DialStatus, DialStatusEntry, EndReason, ProviderDetails
from callbridge.common.models.medium import Provider
from callbridge.transfer.hangups import hang_up_command

Direction = Literal["inbound", "outbound"]


def ended_call(direction: Direction, reason: EndReason, *, provider_call_id: str | None = "CA1") -> Call:
    now = datetime.now(UTC)
    return Call(
        call_id=new_call_id(),
        created=now,
        join_timeout=timedelta(seconds=30),
        direction=direction,
        ended=now,
        end_reason=reason,
        provider_details=ProviderDetails(provider=Provider.TWILIO, call_id=provider_call_id),
    )


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
@pytest.mark.parametrize("reason", [EndReason.AGENT_HANGUP, EndReason.HANGUP, EndReason.TIMEOUT])
def test_a_call_ended_on_callbridges_side_is_hung_up_at_the_provider(
    direction: Direction, reason: EndReason
) -> None:
    call = ended_call(direction, reason)
    command = hang_up_command(call, CallEnded(call_id=call.call_id, end_reason=reason))
    assert command == ProviderHangUp.after_end(call.call_id)
    assert command is not None
    assert command.command_id == ProviderHangUp.after_end(call.call_id).command_id  # one per call


@pytest.mark.parametrize("direction", ["inbound", "outbound"])
def test_a_call_the_provider_ended_is_not_hung_up(direction: Direction) -> None:
    call = ended_call(direction, EndReason.HANGUP)
    event = CallEnded(call_id=call.call_id, end_reason=EndReason.HANGUP, by_provider=True)
    assert hang_up_command(call, event) is None


@pytest.mark.parametrize("reason", [EndReason.TRANSFERRED, EndReason.BUSY, EndReason.DIAL_FAILED])
def test_a_transferred_or_never_placed_call_is_not_hung_up(reason: EndReason) -> None:
    call = ended_call("outbound", reason)
    assert hang_up_command(call, CallEnded(call_id=call.call_id, end_reason=reason)) is None


def test_a_call_without_a_provider_id_or_reported_over_is_not_hung_up() -> None:
    unknown = ended_call("inbound", EndReason.TIMEOUT, provider_call_id=None)
    assert hang_up_command(unknown, CallEnded(call_id=unknown.call_id, end_reason=EndReason.TIMEOUT)) is None
    completed = ended_call("outbound", EndReason.AGENT_HANGUP).model_copy(
        update={
            "dial_statuses": [
                DialStatusEntry(
                    status=DialStatus.COMPLETED, provider_status="completed", at=datetime.now(UTC)
                )
            ]
        }
    )
    event = CallEnded(call_id=completed.call_id, end_reason=EndReason.AGENT_HANGUP)
    assert hang_up_command(completed, event) is None
