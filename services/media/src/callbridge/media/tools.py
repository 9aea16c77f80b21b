"""The telephony tools an agent invokes, executed by callbridge: a table from tool name to handler.

An agent's ``client_tool_invocation`` is looked up in the call's table (built when the session is, see
``default_tools``); a tool that is not in it is answered with an error result by the agent bridge. A
handler acts on the call only through :class:`~callbridge.media.control.CallControl` and answers the
invocation itself (``client_tool_result``), when its work allows: ``hangUp`` answers once the goodbye has
played, ``leaveVoicemail`` once the message has been said, ``playDtmfSounds`` (dtmf_tool.py) once the keys
have. ``coldTransfer`` and ``warmTransfer`` are each a handler and an entry in the table. The answers are
built by tool_replies.py.

Static parameters (Ultravox's ``parameterOverrides`` on the call's ``selectedTools`` entry, such as
``strict``) are read from the call (``CallControl.tool_overrides``) and win over what the agent sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from pydantic import ValidationError

from callbridge.common.call_control import ColdTransfer, ColdTransferRequest
from callbridge.common.commands import VOICEMAIL_END_DETAIL
from callbridge.common.models.call import EndReason
from callbridge.common.warm_transfer import ACCEPT_TRANSFER_TOOL, DECLINE_TRANSFER_TOOL, WARM_TRANSFER_TOOL
from callbridge.media.control import CallControl
from callbridge.media.dtmf_tool import PLAY_DTMF_SOUNDS_TOOL, OutOfBandDtmf, PlayDtmfSoundsTool
from callbridge.media.tool_replies import tool_error, tool_result
from callbridge.media.warm_tools import AcceptTransferTool, DeclineTransferTool, WarmTransferTool

__all__ = [
    "HANG_UP_TOOL",
    "LEAVE_VOICEMAIL_TOOL",
    "HangUpTool",
    "InvalidToolParameterError",
    "LeaveVoicemailTool",
    "ToolHandler",
    "default_tools",
    "static_parameter",
    "tool_error",
    "tool_result",
]

HANG_UP_TOOL: Final = "hangUp"
COLD_TRANSFER_TOOL: Final = "coldTransfer"
LEAVE_VOICEMAIL_TOOL: Final = "leaveVoicemail"
DEFAULT_VOICEMAIL_RESULT: Final = "[Leaving voicemail...]"
MAX_VOICEMAIL_CHARS: Final = 4000
HANG_UP_CANCELLED: Final = "the caller spoke before the call ended: the call goes on"


class ToolHandler(Protocol):
    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        """Carry the tool out and answer it. Runs on the agent's reader: what takes long is spawned."""
        ...


class InvalidToolParameterError(ValueError):
    """A tool parameter of the wrong type: the tool is answered with this error, nothing is done."""


def static_parameter(
    name: str, parameters: dict[str, Any], overrides: dict[str, Any], kind: type[Any], default: Any
) -> Any:
    """A static parameter (Ultravox's ``parameterOverrides``, fixed in the call's ``selectedTools``; else as
    the agent sent it; else its default), checked against its type."""
    value = overrides.get(name, parameters.get(name, default))
    if not isinstance(value, kind):
        raise InvalidToolParameterError(f"{name} must be a {kind.__name__}, not {type(value).__name__}")
    return value


class HangUpTool:
    """``hangUp``: the goodbye already sent plays out (its marks echoed), the tool is answered with
    ``responseType: "hang-up"``, and the call ends as ``agent_hangup``. With the static ``strict: false``,
    the caller speaking (or pressing a key) before then cancels the hang-up; the tool is answered so."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        try:
            strict = static_parameter("strict", parameters, call.tool_overrides(HANG_UP_TOOL), bool, True)
        except InvalidToolParameterError as exc:
            await call.send_to_agent(tool_error(invocation_id, f"{HANG_UP_TOOL}: {exc}"))
            return
        result = tool_result(invocation_id, "call ended", response_type="hang-up")

        async def answer() -> None:
            await call.send_to_agent(result)

        async def cancelled() -> None:
            await call.send_to_agent(tool_result(invocation_id, HANG_UP_CANCELLED))

        if not call.hang_up(
            EndReason.AGENT_HANGUP,
            "agent invoked hangUp",
            before_end=answer,
            unless_caller_acts=not strict,
            if_cancelled=cancelled,
        ):
            await answer()  # the call is ending already (hung up through the API, say): it ends anyway


class LeaveVoicemailTool:
    """``leaveVoicemail``: the tool is answered at once with the static ``result`` (the agent's model
    learns it is leaving a voicemail, and listens rather than speaks), the agent is made to say
    ``message`` word for word (``forced_agent_message``, uninterruptible when strict), and once it has
    played the call ends as ``agent_hangup``. With the static ``strict: false``, the callee speaking or
    pressing a key before then cancels the hang-up (a person answered after all)."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        overrides = call.tool_overrides(LEAVE_VOICEMAIL_TOOL)
        error: str | None
        try:
            strict = static_parameter("strict", parameters, overrides, bool, True)
            result = static_parameter("result", parameters, overrides, str, DEFAULT_VOICEMAIL_RESULT)
            message = static_parameter("message", parameters, {}, str, "")
        except InvalidToolParameterError as exc:
            error = f"{LEAVE_VOICEMAIL_TOOL}: {exc}"
        else:
            error = _voicemail_refused(message, call)
        if error is not None:
            await call.send_to_agent(tool_error(invocation_id, error))
            return
        await call.send_to_agent(tool_result(invocation_id, result, agent_reaction="listens"))
        if await call.say(message, uninterruptible=strict):
            call.hang_up(
                EndReason.AGENT_HANGUP,
                VOICEMAIL_END_DETAIL,
                goodbye_asked=True,
                unless_caller_acts=not strict,
            )


def _voicemail_refused(message: str, call: CallControl) -> str | None:
    if not message.strip():
        return f"{LEAVE_VOICEMAIL_TOOL} needs a message: the words to leave on the voicemail"
    if len(message) > MAX_VOICEMAIL_CHARS:
        return f"{LEAVE_VOICEMAIL_TOOL}: the message is longer than {MAX_VOICEMAIL_CHARS} characters"
    if not call.agent_speaks_text:
        return f"{LEAVE_VOICEMAIL_TOOL}: this call's agent does not speak text, so it cannot say the message"
    if call.ending:
        return f"{LEAVE_VOICEMAIL_TOOL}: the call is ending"
    return None


class ColdTransferTool:
    """``coldTransfer`` (``target``, ``extraHeaders``, ``holdMusicUrl``; the call's ``parameterOverrides``
        win over the agent's): the agent's last words play out, the transfer goes to the transfer service and
        the tool is answered; the provider then stops the stream and the call ends as ``transferred``. A
        transfer the provider refuses gives the call back to the agent, which is told why (a
    ``user_text_message``, command_handlers.py; the ``transfer`` event says why too)."""

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


def default_tools(*, out_of_band_dtmf: OutOfBandDtmf | None = None) -> Mapping[str, ToolHandler]:
    """The tools every call's agent may invoke. ``out_of_band_dtmf``: how ``playDtmfSounds`` reaches the
    provider's DTMF API (dtmf_tool.py); None plays every key in band."""
    return {
        HANG_UP_TOOL: HangUpTool(),
        LEAVE_VOICEMAIL_TOOL: LeaveVoicemailTool(),
        PLAY_DTMF_SOUNDS_TOOL: PlayDtmfSoundsTool(out_of_band_dtmf),
        COLD_TRANSFER_TOOL: ColdTransferTool(),
        WARM_TRANSFER_TOOL: WarmTransferTool(),
        ACCEPT_TRANSFER_TOOL: AcceptTransferTool(),
        DECLINE_TRANSFER_TOOL: DeclineTransferTool(),
    }
