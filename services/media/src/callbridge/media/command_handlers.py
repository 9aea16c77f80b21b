"""What each command to a live call does: a table from verb to handler, each acting through CallControl.

The channel (command_channel.py) parses a request into its typed command and looks its verb up here; a
new verb (the transfer hand-off, DTMF) is a model in ``callbridge.common.commands``, a handler here and an
entry in ``HANDLERS``, and neither the channel nor the session changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from callbridge.common.commands import (
    CallCommand,
    CommandAccepted,
    CommandRefused,
    CommandReply,
    HangUpCall,
    RefusalReason,
    SayMessage,
    TransferHandOff,
)
from callbridge.common.models.call import EndReason
from callbridge.media.control import CallControl
from callbridge.media.tool_replies import transfer_failed
from callbridge.media.warm_tools import warm_transfer_update

Handler = Callable[[Any, CallControl], Awaitable[CommandReply]]


async def hang_up(command: HangUpCall, call: CallControl) -> CommandReply:
    """As the agent's ``hangUp``: what the agent sent plays out, then the call ends as ``hangup``."""
    if call.hang_up(EndReason.HANGUP, command.detail):
        return CommandAccepted(detail="the call ends once the agent's audio already sent has played")
    return CommandAccepted(detail="the call is already ending")


async def say(command: SayMessage, call: CallControl) -> CommandReply:
    """A ``forced_agent_message``: the agent says ``text`` now."""
    if call.ending:
        return CommandRefused(reason=RefusalReason.ENDING, detail="the call is ending")
    if not call.started:
        return CommandRefused(
            reason=RefusalReason.NOT_STARTED, detail="the call's stream has not started yet"
        )
    if not call.agent_speaks_text:
        return CommandRefused(
            reason=RefusalReason.NOT_SUPPORTED,
            detail="the call's agent does not speak text: only a WebSocket agent takes forced_agent_message",
        )
    await call.give_agent_the_floor()  # what the agent is made to say is heard, first turn or not
    await call.send_to_agent(
        {"type": "forced_agent_message", "content": command.text, "urgency": command.urgency}
    )
    return CommandAccepted(detail="sent to the agent as a forced_agent_message")


async def transfer(command: TransferHandOff, call: CallControl) -> CommandReply:
    """The transfer service's hand-off around a cold transfer (see ``TransferHandOff``). On ``abort`` the
    agent speaks again and is told why the transfer failed (``tool_replies.transfer_failed``)."""
    if command.phase == "abort":
        detail = command.detail or "no reason given"
        if call.abort_hand_off(detail):
            await call.send_to_agent(transfer_failed(command.target, detail.rstrip(".")))
        return CommandAccepted(detail="the call goes on with the agent")
    if not call.started:
        return CommandRefused(
            reason=RefusalReason.NOT_STARTED, detail="the call's stream has not started yet"
        )
    if not call.hand_off(command.target, close_stream=command.close_stream):
        return CommandRefused(reason=RefusalReason.ENDING, detail="the call is ending")
    if command.close_stream:
        return CommandAccepted(detail="the stream ends once the agent's audio has played")
    return CommandAccepted(detail="the call ends as transferred when the provider stops the stream")


HANDLERS: Final[Mapping[str, Handler]] = {
    "hang_up": hang_up,
    "say": say,
    "transfer": transfer,
    "warm_transfer": warm_transfer_update,
}


async def carry_out(command: CallCommand, call: CallControl) -> CommandReply:
    return await HANDLERS[command.command](command, call)
