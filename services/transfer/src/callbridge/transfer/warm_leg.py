"""The human's call of a warm transfer: how it is made (``leg_settings``), and what a call's end decides
(``decision_after_end``: the leg's end, busy, unanswered or hung up; the caller's while the human is called).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from callbridge.common.commands import VOICEMAIL_END_DETAIL
from callbridge.common.events import CallEnded
from callbridge.common.models.call import Call, EndReason, SealedCallSettings
from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import (
    ACCEPT_TRANSFER_TOOL,
    DECLINE_TRANSFER_TOOL,
    LEAVE_VOICEMAIL_TOOL,
    Decision,
    WarmTransfer,
    WarmTransferDecided,
    WarmTransferState,
    state_key,
)

JOIN_MARGIN_S: Final = 3
"""The leg's join timeout is its ring timeout and this: the dialer rings for the join timeout less 2 s, and
the answered leg's stream has the rest to start."""

BRIEFING_MAX: Final = timedelta(minutes=5)
"""The human's call's ``maxDuration``: a briefing that decides nothing ends then (``declined``), and the
caller, on hold all along, returns to the agent."""

_LEG_END_DECISIONS: Final[dict[EndReason, Decision]] = {
    EndReason.BUSY: "busy",
    EndReason.NO_ANSWER: "no_answer",
    EndReason.UNJOINED: "no_answer",
    EndReason.CANCELED: "no_answer",
    EndReason.DIAL_FAILED: "failed",
}


class WarmRefused(Exception):
    """The warm transfer cannot go on; the message says why."""


def leg_settings(call: Call, command: WarmTransfer, provider: Provider) -> SealedCallSettings:
    """The human's call: the caller's provider medium (its codec and rate) dialing ``target`` from the
    caller's call's own number, the caller's agent backend with the rendered prompt, speaking first, with the
    decision tools; it rings ``ringTimeout`` and may last ``BRIEFING_MAX`` once answered."""
    medium = call.medium
    settings_of_medium: dict[str, Any] = {}
    if medium is not None:
        settings_of_medium = medium.settings.model_dump(
            by_alias=True, exclude_none=True, exclude={"outgoing"}
        )
    caller_id = _caller_id(call)
    if caller_id is None:
        raise WarmRefused("the number to call the human from is not known (the call's own number)")
    return SealedCallSettings.model_validate(
        {
            "systemPrompt": command.prompt(),
            "medium": {
                provider.value: {**settings_of_medium, "outgoing": {"to": command.target, "from": caller_id}}
            },
            "joinTimeout": timedelta(seconds=command.ring_timeout_s + JOIN_MARGIN_S),
            "maxDuration": BRIEFING_MAX,
            "firstSpeakerSettings": {"agent": {}},
            "selectedTools": [
                {"toolName": ACCEPT_TRANSFER_TOOL},
                {"toolName": DECLINE_TRANSFER_TOOL},
                {"toolName": LEAVE_VOICEMAIL_TOOL},
            ],
            "agentBackend": call.agent_backend.model_dump(by_alias=True),
        }
    )


def _caller_id(call: Call) -> str | None:
    """The account's number on the caller's call: what the human sees calling."""
    if call.medium is not None and call.medium.outgoing is not None:
        return call.medium.outgoing.from_
    details = call.provider_details
    return None if details is None else details.to


async def decision_after_end(
    call: Call, event: CallEnded, states: KvStore[WarmTransferState]
) -> WarmTransferDecided | None:
    """What a call's end decides about a warm transfer: the leg's end (busy, no answer, the human hanging
    up), or the caller's while the human is being called (``caller_left``); None otherwise."""
    if call.transfer_of is not None:
        reason = event.end_reason
        if reason is EndReason.TRANSFERRED:
            return None  # joined: the transfer was accepted
        decision = _LEG_END_DECISIONS.get(reason, "declined")
        if reason is EndReason.AGENT_HANGUP and event.detail == VOICEMAIL_END_DETAIL:
            decision = "voicemail"  # the leg's agent reached a voicemail and left the message
        return WarmTransferDecided.once(
            call.transfer_of,
            decision,
            f"leg-ended:{call.call_id}",
            detail=f"the human's call ended: {reason}",
            leg_call_id=call.call_id,
        )
    found = await states.find(state_key(call.call_id))
    if found is None or found.value.phase == "decided":
        return None
    return WarmTransferDecided.once(
        call.call_id, "caller_left", f"caller-ended:{call.call_id}", detail="the caller hung up while on hold"
    )
