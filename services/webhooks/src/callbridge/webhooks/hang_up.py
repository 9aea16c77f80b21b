"""Hanging a call up through the API: a command to the media replica that holds its stream, or, for a call
nobody has joined yet, its end written at once.

The replica answers at once and ends the call once the agent's audio already sent has played. A call no
replica holds (NATS "no responders") is read again: if it has not been joined, it is ended as ``hangup``
with the compare-and-set every ender uses, unless a join wins the race (then the replica is asked again);
if it has been joined, its replica may be moments from subscribing (it does before the stream starts), so
it is asked again a few times before the answer is that it cannot be reached.
"""

from __future__ import annotations

import asyncio
from typing import Final
from uuid import UUID

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_records import finish_call
from callbridge.common.command_client import (
    CallNotHeldError,
    CommandError,
    CommandTimeoutError,
    MediaCommands,
)
from callbridge.common.commands import API_HANG_UP_DETAIL, CommandRefused, HangUpCall
from callbridge.common.models.call import Call, CallHangUp, EndReason
from callbridge.webhooks import records
from callbridge.webhooks.errors import MediaUnavailableError, StateConflictError

CANCELED_DETAIL: Final = "hung up through the API before it was answered"
NOT_HELD_ATTEMPTS: Final = 6
NOT_HELD_RETRY_S: Final = 0.2
"""A joined call nobody holds is asked about again after this long, up to NOT_HELD_ATTEMPTS times (1 s)."""


async def hang_up_call(
    stores: Stores, publisher: EventPublisher, commands: MediaCommands, call_id: UUID
) -> CallHangUp:
    for attempt in range(1, NOT_HELD_ATTEMPTS + 1):
        call = _open(await records.load_call(stores, call_id))
        try:
            reply = await commands.send(call_id, HangUpCall())
        except CallNotHeldError:
            if call.joined is None:
                # An outbound call nobody joined is still ringing (or being dialed): it is canceled, and
                # the dialer hangs up the provider's call when it sees it end.
                outbound = call.direction == "outbound"
                ended = await finish_call(
                    stores.calls,
                    stores.call_listing,
                    call_id,
                    EndReason.CANCELED if outbound else EndReason.HANGUP,
                    detail=CANCELED_DETAIL if outbound else API_HANG_UP_DETAIL,
                    unless_joined=True,
                    capacity=stores.capacity,
                )
                if ended is not None:
                    await publisher.publish(ended)
                    return CallHangUp(call_id=call_id, ended=True)
                continue  # joined or ended meanwhile: read it again
            if attempt < NOT_HELD_ATTEMPTS:
                await asyncio.sleep(NOT_HELD_RETRY_S)  # a back-off: the joining replica is subscribing
            continue
        except CommandTimeoutError as exc:
            _open(await records.load_call(stores, call_id))  # ended meanwhile: that is the answer
            raise MediaUnavailableError(str(exc)) from None
        except CommandError as exc:
            raise MediaUnavailableError(str(exc)) from None
        if isinstance(reply, CommandRefused):
            raise MediaUnavailableError(f"the media replica holding call {call_id} refused: {reply.detail}")
        return CallHangUp(call_id=call_id, ended=False)
    raise MediaUnavailableError(
        f"no media replica holds call {call_id}, which was joined: its replica may have been lost or cut "
        "off from NATS. Try again; a call still open past maxDuration + 60 s is ended as system_error"
    )


def _open(call: Call) -> Call:
    if call.ended is not None:
        raise StateConflictError(f"call {call.call_id} has ended ({call.end_reason})")
    return call
