"""``inactivityMessages``: what the agent says when the line has been silent, and the hang-up after it.

Ultravox's rules (reference §1.4): the messages play in order; durations are cumulative (message *m* plays
``duration`` after message *m-1*); any user activity resets the sequence; after a message,
``END_BEHAVIOR_UNSPECIFIED`` keeps waiting, ``END_BEHAVIOR_HANG_UP_SOFT`` hangs up unless the caller
interacts while it is spoken, ``END_BEHAVIOR_HANG_UP_STRICT`` hangs up regardless.

Inactivity is silence on the line, measured as Ultravox does: a message is due ``duration`` after both
sides went quiet, that is after the later of the caller's last activity (caller_activity.py: speech by the
voice-activity detector, or a key) and the end of the agent's audio (the playout's ``dry_at``, when the
provider will have played all it was sent). User activity (the caller's speech starting, a key) also
resets the sequence to the first message; the agent's audio only delays it (its answer to the caller, or
the inactivity message itself, is the agent speaking, not the caller coming back).

The timer is one loop-clock timer per call. When it fires it re-reads the line: if someone was active
since it was set, it is set again for the new moment rather than moved on every frame.

A message is said as ``forced_agent_message`` (``CallControl.say``); a message left empty says nothing
(a silent hang-up after a time of silence). An agent that does not speak text cannot say it: the message
is skipped, and its end behaviour still applies. The hang-up goes through ``CallControl.hang_up`` with the
message played first; the call ends as ``agent_hangup`` with an ``endDetail`` naming the message.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final

from callbridge.common.models.call import EndReason
from callbridge.common.models.conversation import EndBehavior, TimedMessage
from callbridge.media.caller_activity import CallerActivity
from callbridge.media.clock import TimerHandle
from callbridge.media.control import CallControl
from callbridge.media.hang_up import GOODBYE_PLAY_S, GOODBYE_START_S
from callbridge.media.playout import Playout
from callbridge.media.ratelimit import CallLog

_EARLY_S: Final = 0.002
"""A timer may fire this much early (uvloop's clock has 1 ms steps): it is due then."""


class InactivityMonitor:
    """One call's inactivity messages: ``start`` once the agent has started, ``close`` when the call ends."""

    def __init__(
        self,
        messages: Sequence[TimedMessage],
        *,
        call: CallControl,
        activity: CallerActivity,
        playout: Playout,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        log: CallLog,
    ) -> None:
        self._messages = list(messages)
        self._durations_s = [message.duration.total_seconds() for message in messages]
        self._call = call
        self._activity = activity
        self._playout = playout
        self._clock = playout.clock
        self._spawn = spawn
        self._log = log
        self._next = 0
        """The message due next; ``len(messages)`` once all have played (then it waits for the caller)."""
        self._quiet_since = 0.0
        """When the last message finished (or the monitor started): silence counts from no earlier."""
        self._saying = False
        """A message is being said (or its hang-up is under way): no timer runs meanwhile."""
        self._timer: TimerHandle | None = None
        self._stop_listening: Callable[[], None] | None = None
        self.messages_said = 0

    def start(self) -> None:
        self._quiet_since = self._clock.now()
        self._stop_listening = self._activity.listen(self._on_activity)
        self._arm()

    def close(self) -> None:
        self._cancel_timer()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    def _on_activity(self) -> None:
        """The caller spoke or pressed a key: the sequence starts again from its first message."""
        self._next = 0
        if not self._saying:
            self._arm()

    def _due_at(self) -> float:
        now = self._clock.now()
        activity = self._activity
        quiet_since = now if activity.speaking else max(self._quiet_since, activity.last_active_at)
        quiet_since = max(quiet_since, self._playout.dry_at)
        return quiet_since + self._durations_s[self._next]

    def _arm(self) -> None:
        self._cancel_timer()
        if self._next < len(self._messages) and self._stop_listening is not None:
            self._timer = self._clock.call_at(self._due_at(), self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._saying or self._call.ending or self._next >= len(self._messages):
            return
        due_at = self._due_at()
        if due_at - self._clock.now() > _EARLY_S:
            self._timer = self._clock.call_at(due_at, self._on_timer)  # someone was active since
            return
        self._saying = True
        self._spawn(self._say(self._next), "inactivity-message")

    async def _say(self, index: int) -> None:
        message = self._messages[index]
        self._next = index + 1
        self.messages_said += 1
        self._log.info("inactivity: message %d of %d is due", index + 1, len(self._messages))
        asked_at = self._playout.frames_queued
        said = bool(message.message) and await self._call.say(message.message)
        if message.end_behavior is EndBehavior.UNSPECIFIED:
            if said:
                await self._playout.wait_for_reply(asked_at, GOODBYE_START_S, GOODBYE_PLAY_S)
            self._resume()
            return
        soft = message.end_behavior is EndBehavior.HANG_UP_SOFT
        detail = f"inactivityMessages[{index}]: the line was silent ({message.end_behavior.value})"

        async def resume() -> None:
            self._resume()

        if not self._call.hang_up(
            EndReason.AGENT_HANGUP,
            detail,
            goodbye_asked=said,
            unless_caller_acts=soft,
            if_cancelled=resume,
        ):
            self._saying = False  # the call is ending already

    def _resume(self) -> None:
        """The message has played (or its hang-up was cancelled by the caller): silence counts from now."""
        self._saying = False
        self._quiet_since = self._clock.now()
        self._arm()
