"""The telephony tools an agent invokes, executed by callbridge: a table from tool name to handler.

An agent's ``client_tool_invocation`` is looked up in the call's table (built when the session is, see
``default_tools``); a tool that is not in it is answered with an error result by the agent bridge. A
handler acts on the call only through :class:`~callbridge.media.control.CallControl` and answers the
invocation itself (``client_tool_result``), when its work allows: ``hangUp`` answers once the goodbye has
played; ``playDtmfSounds`` (dtmf_tool.py, with its answers in tool_replies.py) once the keys have.
``coldTransfer``, ``warmTransfer`` and ``leaveVoicemail`` are each a handler and an entry in the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from callbridge.common.models.call import EndReason
from callbridge.media.control import CallControl
from callbridge.media.dtmf_tool import PLAY_DTMF_SOUNDS_TOOL, OutOfBandDtmf, PlayDtmfSoundsTool
from callbridge.media.tool_replies import tool_error, tool_result

__all__ = ["HANG_UP_TOOL", "HangUpTool", "ToolHandler", "default_tools", "tool_error", "tool_result"]

HANG_UP_TOOL: Final = "hangUp"


class ToolHandler(Protocol):
    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        """Carry the tool out and answer it. Runs on the agent's reader: what takes long is spawned."""
        ...


class HangUpTool:
    """``hangUp``: the goodbye already sent plays out (its marks echoed), the tool is answered with
    ``responseType: "hang-up"``, and the call ends as ``agent_hangup``."""

    async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
        result = tool_result(invocation_id, "call ended", response_type="hang-up")

        async def answer() -> None:
            await call.send_to_agent(result)

        if not call.hang_up(EndReason.AGENT_HANGUP, "agent invoked hangUp", before_end=answer):
            await answer()  # the call is ending already (hung up through the API, say): it ends anyway


def default_tools(*, out_of_band_dtmf: OutOfBandDtmf | None = None) -> Mapping[str, ToolHandler]:
    """The tools every call's agent may invoke. ``out_of_band_dtmf``: how ``playDtmfSounds`` reaches the
    provider's DTMF API (dtmf_tool.py); None plays every digit in band."""
    return {HANG_UP_TOOL: HangUpTool(), PLAY_DTMF_SOUNDS_TOOL: PlayDtmfSoundsTool(out_of_band_dtmf)}
