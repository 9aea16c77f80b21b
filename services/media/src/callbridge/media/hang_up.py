"""A hang-up on its way: what plays before the call ends, and the caller's chance to cancel it.

Whoever ends the call (the agent's ``hangUp`` or ``leaveVoicemail``, an inactivity message, a command)
asks for a :class:`HangUpPlan`; the session carries it out (``CallSession.hang_up``):

1. ``goodbye_asked``: the agent was just asked to say something (a voicemail, an inactivity message). Its
   audio still plays: callbridge waits until it has started (at most ``GOODBYE_START_S``) and played
   (at most ``GOODBYE_PLAY_S``).
2. From then on, what the agent sends is not played; what it sent before plays out (its marks echoed, at
   most ``hang_up_drain_timeout_s``).
3. ``before_end`` runs (the tool is answered), and the call ends.

With ``unless_caller_acts`` (``strict: false``, ``END_BEHAVIOR_HANG_UP_SOFT``), the caller speaking or
pressing a key before step 3 cancels the hang-up: the agent's audio plays again and ``if_cancelled`` runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

from callbridge.common.models.call import EndReason
from callbridge.media.caller_activity import CallerActivity

GOODBYE_START_S: Final = 5.0
"""How long the agent has to start saying what it was asked to before the call ends without it."""
GOODBYE_PLAY_S: Final = 60.0
"""How long that may play (a voicemail message included) before the call ends anyway."""


@dataclass(frozen=True, slots=True)
class HangUpPlan:
    reason: EndReason
    detail: str
    """The call's ``endDetail``."""
    before_end: Callable[[], Awaitable[None]] | None = None
    """Runs once the audio has played, just before the call ends (a tool answers here)."""
    goodbye_asked: bool = False
    """The agent was just asked (``CallControl.say``) to say a goodbye: it plays first, all of it."""
    unless_caller_acts: bool = False
    """The caller's speech or a key before the end cancels the hang-up."""
    if_cancelled: Callable[[], Awaitable[None]] | None = None
    """Runs when the caller cancelled the hang-up."""


async def unless_caller_acts(work: Coroutine[Any, Any, None], activity: CallerActivity, name: str) -> bool:
    """Run ``work`` to its end, unless the caller speaks or presses a key first: then ``work`` is cancelled
    and this returns True."""
    acted = asyncio.Event()
    stop_listening = activity.listen(acted.set)
    working = asyncio.create_task(work, name=name)
    watching = asyncio.create_task(acted.wait(), name=f"{name}-caller")
    try:
        await asyncio.wait((working, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_listening()
        watching.cancel()
        if not working.done():
            working.cancel()
        await asyncio.gather(working, watching, return_exceptions=True)
    if working.cancelled():
        return True
    working.result()  # what the work raised is raised here
    return False
