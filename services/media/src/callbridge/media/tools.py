"""The telephony tools an agent invokes, executed by callbridge: a table from tool name to handler.

An agent's ``client_tool_invocation`` is looked up in the call's table (built when the session is, see
``default_tools``); a tool that is not in it is answered with an error result by the agent bridge. A
handler acts on the call only through :class:`~callbridge.media.control.CallControl` and answers the
invocation itself (``client_tool_result``), when its work allows: ``hangUp`` answers once the goodbye has
played. ``coldTransfer``, ``warmTransfer``, ``playDtmfSounds`` and ``leaveVoicemail`` are each a handler
here and an entry in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from pydantic import ValidationError

from callbridge.common.call_control import ColdTransfer, ColdTransferRequest
from callbridge.common.models.call import EndReason
from callbridge.media.control import CallControl

HANG_UP_TOOL: Final = "hangUp"
COLD_TRANSFER_TOOL: Final = "coldTransfer"


class ToolHandler(Protocol):
    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        """Carry the tool out and answer it. Runs on the agent's reader: what takes long is spawned."""
        ...


def tool_result(invocation_id: str, result: str, *, response_type: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "client_tool_result", "invocationId": invocation_id, "result": result}
    if response_type is not None:
        message["responseType"] = response_type
    return message


def tool_error(invocation_id: str, error: str) -> dict[str, Any]:
    return {
        "type": "client_tool_result",
        "invocationId": invocation_id,
        "errorType": "undefined",
        "errorMessage": error,
    }


class HangUpTool:
    """``hangUp``: the goodbye already sent plays out (its marks echoed), the tool is answered with
    ``responseType: "hang-up"``, and the call ends as ``agent_hangup``."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        result = tool_result(invocation_id, "call ended", response_type="hang-up")

        async def answer() -> None:
            await call.send_to_agent(result)

        if not call.hang_up(EndReason.AGENT_HANGUP, "agent invoked hangUp", before_end=answer):
            await answer()  # the call is ending already (hung up through the API, say): it ends anyway


class ColdTransferTool:
    """``coldTransfer`` (``target``, ``extraHeaders``, ``holdMusicUrl``; the call's ``parameterOverrides``
    win over the agent's): the agent's last words play out, the transfer goes to the transfer service and
    the tool is answered; the provider then stops the stream and the call ends as ``transferred``. A
    transfer the provider refuses gives the call back to the agent (the ``transfer`` event says why)."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        merged = {**parameters, **call.tool_overrides(COLD_TRANSFER_TOOL)}
        try:
            request = ColdTransferRequest.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'parameters'}: {error['msg']}"
                for error in exc.errors(include_url=False, include_input=False)[:3]
            )
            await call.send_to_agent(tool_error(invocation_id, f"coldTransfer: {problems}"[:300]))
            return
        command = ColdTransfer(
            call_id=call.call_id,
            origin="agent",
            invocation_id=invocation_id,
            **request.model_dump(by_alias=False),
        )

        async def publish() -> None:
            try:
                await call.request_transfer(command)
            except Exception as exc:  # NATS unreachable or refusing: the call stays with the agent
                call.abort_hand_off(f"the transfer could not be requested: {exc}")
                await call.send_to_agent(tool_error(invocation_id, "coldTransfer could not be requested"))
                return
            await call.send_to_agent(tool_result(invocation_id, f"transferring the call to {request.target}"))

        if not call.hand_off(request.target, close_stream=False, before=publish):
            await call.send_to_agent(tool_error(invocation_id, "coldTransfer: the call is ending"))


def default_tools() -> Mapping[str, ToolHandler]:
    """The tools every call's agent may invoke."""
    return {HANG_UP_TOOL: HangUpTool(), COLD_TRANSFER_TOOL: ColdTransferTool()}
