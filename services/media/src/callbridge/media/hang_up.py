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
from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agent_bridge import AgentBridge
from callbridge.media.caller_activity import CallerActivity
from callbridge.media.playout import Playout
from callbridge.media.ratelimit import CallLog

GOODBYE_START_S: Final = 5.0
"""How long the agent has to start saying what it was asked to before the call ends without it."""
GOODBYE_PLAY_S: Final = 60.0
"""How long that may play (a voicemail message included) before the call ends anyway."""


@dataclass(frozen=True, slots=True)
class HangUpPlan:
    reason: EndReason | None
    """None: the audio plays out and ``before_end`` runs, and the call is left for its stream's end to end
    (a cold transfer, which the provider ends)."""
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


class HangUps:
    """One call's hang-up, at most one under way at a time. The session gives it the call's parts once the
    stream has started (``bridge``, ``framer``, ``activity``); before then a hang-up just ends the call."""

    def __init__(
        self,
        playout: Playout,
        *,
        drain_timeout_s: float,
        log: CallLog,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        end: Callable[[EndReason, str], None],
        ended: Callable[[], bool],
    ) -> None:
        self._playout = playout
        self._drain_timeout_s = drain_timeout_s
        self._log = log
        self._spawn = spawn
        self._end = end
        self._ended = ended
        self.bridge: AgentBridge | None = None
        self.framer: AgentAudioFramer | None = None
        self.activity: CallerActivity | None = None
        self.under_way = False
        self.asked_at = 0
        """The playout's ``frames_queued`` when the agent was last asked to say something."""

    def begin(self, plan: HangUpPlan, name: str) -> None:
        self.under_way = True
        if not plan.goodbye_asked:
            self._stop_agent_audio()
        self._spawn(self._run(plan, name), name)

    def _stop_agent_audio(self) -> None:
        if self.bridge is not None:
            self.bridge.ending = True  # what the agent sends from now on is not played

    async def _run(self, plan: HangUpPlan, name: str) -> None:
        playing = self._play_out(plan.goodbye_asked)
        if plan.unless_caller_acts and self.activity is not None:
            if await unless_caller_acts(playing, self.activity, name):
                self._log.info("the caller spoke or pressed a key: the hang-up is cancelled")
                self.under_way = False
                if self.bridge is not None and not self._ended():
                    self.bridge.ending = False
                if plan.if_cancelled is not None:
                    await plan.if_cancelled()
                return
        else:
            await playing
        if plan.before_end is not None:
            await plan.before_end()
        if plan.reason is not None:
            self._end(plan.reason, plan.detail)

    async def _play_out(self, goodbye_asked: bool) -> None:
        playout = self._playout
        if goodbye_asked:
            if not await playout.wait_for_reply(self.asked_at, GOODBYE_START_S, GOODBYE_PLAY_S):
                self._log.warning("hanging up before the agent had said what it was asked to")
            self._stop_agent_audio()
        if self.framer is not None:
            await self.framer.flush()  # the agent is done: its last part-frame need not wait
            if not await playout.wait_drained(self._drain_timeout_s):
                self._log.warning("hanging up before the agent's audio finished playing")


async def unless_caller_acts(work: Coroutine[Any, Any, None], activity: CallerActivity, name: str) -> bool:
    """Run ``work`` to its end, unless the caller speaks or presses a key first: then ``work`` is cancelled
    and this returns True. The caller wins a tie (both in the same turn of the loop: the key was read
    before the marks that finished the work)."""
    acted = asyncio.Event()
    stop_listening = activity.listen(acted.set)
    working = asyncio.create_task(work, name=name)
    watching = asyncio.create_task(acted.wait(), name=f"{name}-caller")
    try:
        await asyncio.wait((working, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_listening()
        for task in (working, watching):
            task.cancel()
        await asyncio.gather(working, watching, return_exceptions=True)
    if acted.is_set():
        return True
    working.result()  # what the work raised is raised here
    return False
