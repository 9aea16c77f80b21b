"""The warm-transfer tools: ``warmTransfer`` on the caller's call, ``acceptTransfer`` and ``declineTransfer``
on the human's (the second leg, whose agent briefs them); and the handler of the transfer service's
``warm_transfer`` command that ends the hold (see callbridge.common.warm_transfer for the whole flow).

``warmTransfer`` answers at once only when it cannot start (bad parameters, a provider that cannot join two
calls, hold music that cannot be played, the call ending); else the caller hears hold music and the tool is
answered when the transfer is decided: ``{"transferred": false, "reason": …}`` as the caller comes back to
the agent; when the calls are joined, the call ends as ``transferred`` and the agent leaves without an
answer.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from callbridge.common.commands import CommandAccepted, CommandRefused, CommandReply, RefusalReason
from callbridge.common.commands import WarmTransferUpdate as WarmTransferUpdateCommand
from callbridge.common.models.medium import Provider
from callbridge.common.warm_transfer import (
    WARM_TRANSFER_TOOL,
    Decision,
    WarmTransfer,
    WarmTransferDecided,
    WarmTransferReason,
    WarmTransferRequest,
)
from callbridge.media.control import CallControl
from callbridge.media.hold import HoldMusicError, load_hold_music
from callbridge.media.tool_replies import tool_error, tool_result

JOINS_CALLS = frozenset({Provider.TWILIO, Provider.TELNYX, Provider.PLIVO})
"""The providers whose API connects two live calls (Exotel has none)."""


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'parameters'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)[:3]
    )


class WarmTransferTool:
    """``warmTransfer`` (``target``, ``context``, ``holdMusicUrl``, ``transferSystemPromptTemplate``,
    ``ringTimeout``; the call's ``parameterOverrides`` win over the agent's)."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        merged = {**parameters, **call.tool_overrides(WARM_TRANSFER_TOOL)}
        try:
            request = WarmTransferRequest.model_validate(merged)
        except ValidationError as exc:
            await call.send_to_agent(tool_error(invocation_id, f"warmTransfer: {_problems(exc)}"[:300]))
            return
        provider = call.provider
        if provider not in JOINS_CALLS:
            name = provider.value.capitalize() if provider is not None else "this call's provider"
            await call.send_to_agent(
                tool_error(
                    invocation_id,
                    f"warmTransfer: {name} has no API to connect two calls; warm transfers work on Twilio, "
                    "Telnyx and Plivo",
                )
            )
            return
        if call.transfer_of is not None:
            await call.send_to_agent(
                tool_error(invocation_id, "warmTransfer: this call is itself a warm transfer's second leg")
            )
            return
        try:
            url = None if request.hold_music_url is None else str(request.hold_music_url)
            audio = await load_hold_music(url, call.agent_rate_hz)
        except HoldMusicError as exc:
            await call.send_to_agent(tool_error(invocation_id, f"warmTransfer: holdMusicUrl: {exc}"[:300]))
            return
        if not call.begin_warm_hold(invocation_id, request.target, audio):
            await call.send_to_agent(
                tool_error(invocation_id, "warmTransfer: the call is ending or a transfer is under way")
            )
            return
        command = WarmTransfer(
            call_id=call.call_id,
            origin="agent",
            invocation_id=invocation_id,
            **request.model_dump(by_alias=False),
        )
        try:
            await call.request_transfer(command)
        except Exception:  # NATS unreachable or refusing: the caller is back with the agent
            await call.stop_hold()
            call.take_warm_invocation()
            await call.send_to_agent(tool_error(invocation_id, "warmTransfer could not be requested"))


class _DecisionTool:
    decision: Decision
    name: str

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        first_call = call.transfer_of
        if first_call is None:
            await call.send_to_agent(
                tool_error(invocation_id, f"{self.name}: this call is not a warm transfer's second leg")
            )
            return
        decision = self._decision(parameters)
        reason = parameters.get("reason")
        detail = f"{self.name}: {reason}"[:300] if isinstance(reason, str) and reason else self.name
        try:
            await call.request_transfer(
                WarmTransferDecided.once(
                    first_call, decision, f"decision:{call.call_id}", detail=detail, leg_call_id=call.call_id
                )
            )
        except Exception:  # NATS unreachable or refusing: the agent hears it was not passed on
            await call.send_to_agent(tool_error(invocation_id, f"{self.name} could not be passed on"))
            return
        await call.send_to_agent(tool_result(invocation_id, json.dumps({"decision": decision})))

    def _decision(self, parameters: dict[str, Any]) -> Decision:
        return self.decision


class AcceptTransferTool(_DecisionTool):
    """``acceptTransfer``: the human takes the caller; the calls are joined and both agents leave."""

    decision = "accepted"
    name = "acceptTransfer"


class DeclineTransferTool(_DecisionTool):
    """``declineTransfer`` (``reason``: ``voicemail`` when a voicemail answered, else free text): the caller
    returns to the agent, with reason ``voicemail`` or ``declined``."""

    decision = "declined"
    name = "declineTransfer"

    def _decision(self, parameters: dict[str, Any]) -> Decision:
        reason = parameters.get("reason")
        if isinstance(reason, str) and reason.strip().lower() == WarmTransferReason.VOICEMAIL.value:
            return "voicemail"
        return "declined"


async def warm_transfer_update(command: WarmTransferUpdateCommand, call: CallControl) -> CommandReply:
    """The transfer service decided the warm transfer: join (``connect``) or give the caller back."""
    await call.stop_hold()
    if command.phase == "connect":
        # The tool stays unanswered: the agent leaves when the call ends as transferred, and a join the
        # provider refuses comes back as ``return``, which answers it.
        if not call.hand_off(command.target, close_stream=False):
            return CommandRefused(reason=RefusalReason.ENDING, detail="the call is ending")
        return CommandAccepted(detail="the call ends as transferred when the provider stops the stream")
    call.abort_hand_off(command.detail or "the warm transfer did not connect")
    invocation_id = call.take_warm_invocation()
    if invocation_id is not None:
        result: dict[str, Any] = {"transferred": False, "reason": command.reason or "failed"}
        if command.detail:
            result["detail"] = command.detail
        await call.send_to_agent(tool_result(invocation_id, json.dumps(result)))
    return CommandAccepted(detail="the caller is back with the agent")
