"""Who speaks first on a call: ``firstSpeakerSettings``, carried out at the call's start.

The agent is a peer that greets when it likes, so callbridge keeps the floor for whoever it belongs to by
holding the agent's audio back (agent_bridge.py) and tells the agent what to say through the protocol's
own messages (reference §7.2):

- ``agent`` (the default): the agent's audio plays from ``delay`` after the stream started (what it sent
  before then is held and plays then). ``text`` is sent as ``forced_agent_message`` (say this),
  ``prompt`` as ``user_text_message`` with ``urgency: immediate`` (answer this), both at ``delay``.
  ``uninterruptible``: the agent's ``playback_clear_buffer`` is ignored until its first turn has played.
- ``user``: the agent's audio is held while callbridge listens for the caller (vad.py). Speech (or a key)
  gives the caller the turn: the held audio is dropped, the agent is sent ``user_started_speaking`` and,
  once the caller stops for ``turnEndpointDelay``, ``user_stopped_speaking``; from then on its audio plays.
  If nobody spoke within ``fallback.delay``, the agent gets the turn as if it were the agent's
  (``fallback.text``/``prompt``, or the held audio plays). Without ``fallback`` it waits for the caller.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from callbridge.common.models.conversation import FirstSpeakerSettings, VadSettings
from callbridge.media import metrics
from callbridge.media.clock import Clock, TimerHandle
from callbridge.media.playout import Playout
from callbridge.media.ratelimit import CallLog
from callbridge.media.vad import FRAME_MS, SpeechChange, SpeechDetector, VadTuning

logger = logging.getLogger(__name__)

FIRST_AUDIO_TIMEOUT_S: Final = 30.0
"""An uninterruptible first turn that has not started playing by then is no longer protected."""
FIRST_TURN_MAX_S: Final = 120.0
"""An uninterruptible first turn is protected for at most this long, however long the agent talks."""
CALLER_TURN_MAX_S: Final = 30.0
"""callbridge stops listening for the end of a caller's first turn after this long (the detector costs
about as much CPU as the rest of the call): no ``user_stopped_speaking`` is sent then."""


class Floor(Protocol):
    """The agent's side of the call, as the first turn needs it (agent_bridge.AgentBridge)."""

    uninterruptible: bool

    def hold_audio(self) -> None:
        """From now on the agent's audio is held, not played."""

    async def release_audio(self, *, play_held: bool) -> None:
        """The agent's audio plays again; what was held plays first, or is dropped."""


class Turn(enum.Enum):
    AGENT = "agent"
    """The agent has the floor (or is waiting for its ``delay``)."""
    WAITING = "waiting"
    """Nobody has it yet: callbridge listens for the caller."""
    USER = "user"
    """The caller spoke first."""


class FirstTurn:
    """One call's first turn. ``prepare`` before the agent starts, ``begin`` once it has."""

    def __init__(
        self,
        settings: FirstSpeakerSettings,
        vad: VadSettings | None,
        *,
        floor: Floor,
        playout: Playout,
        send_to_agent: Callable[[dict[str, Any]], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        log: CallLog,
        input_rate_hz: int,
    ) -> None:
        self._settings = settings
        self._floor = floor
        self._playout = playout
        self._clock: Clock = playout.clock
        self._send = send_to_agent
        self._spawn = spawn
        self._log = log
        self._timer: TimerHandle | None = None
        self.turn = Turn.WAITING if settings.user is not None else Turn.AGENT
        self.taken_by = "none" if settings.user is not None else "agent"
        """Who took the first turn, for the metric: agent, caller_speech, caller_key, fallback, command or
        none."""
        self.detector: SpeechDetector | None = None
        """Listening to the caller while the first turn is the caller's to take or to finish."""
        self._listen_until_frame = 0
        if settings.user is not None:
            self.detector = SpeechDetector(VadTuning.from_settings(vad), input_rate_hz)

    @property
    def listening(self) -> bool:
        return self.detector is not None

    def prepare(self) -> None:
        """Before the agent starts: hold its audio if the floor is not its own yet."""
        agent = self._settings.agent
        if agent is not None and agent.uninterruptible:
            self._floor.uninterruptible = True
        if self.turn is Turn.WAITING or (agent is not None and agent.delay):
            self._floor.hold_audio()

    def begin(self) -> None:
        """The agent has started: start the clock on whoever's turn it is."""
        agent, user = self._settings.agent, self._settings.user
        if agent is not None:
            delay_s = agent.delay.total_seconds() if agent.delay else 0.0
            if delay_s > 0:
                self._timer = self._clock.call_at(self._clock.now() + delay_s, self._on_agent_delay)
            else:
                self._spawn(self._agent_turn(), "first-turn-agent")
        elif user is not None and user.fallback is not None and user.fallback.delay is not None:
            self._timer = self._clock.call_at(
                self._clock.now() + user.fallback.delay.total_seconds(), self._on_fallback
            )

    def on_caller_audio(self, pcm: npt.NDArray[np.int16]) -> bool:
        """One frame of the caller's audio (the stream's rate); False once callbridge stops listening."""
        detector = self.detector
        if detector is None:
            return False
        change = detector.feed(pcm)
        if change is SpeechChange.STARTED and self.turn is Turn.WAITING:
            self._log.info("first speaker: the caller spoke first")
            self._user_turn("caller_speech")
            self._listen_until_frame = detector.frames_seen + int(CALLER_TURN_MAX_S * 1000 / FRAME_MS)
            self._spawn(self._tell("user_started_speaking"), "first-turn-user-started")
        elif change is SpeechChange.STOPPED and self.turn is Turn.USER:
            self.detector = None
            self._spawn(self._tell("user_stopped_speaking"), "first-turn-user-stopped")
            return False
        elif self.turn is Turn.USER and detector.frames_seen > self._listen_until_frame:
            self._log.info("first speaker: the caller's first turn went on past %.0f s", CALLER_TURN_MAX_S)
            self.detector = None
            return False
        return True

    def on_dtmf(self) -> None:
        """A key pressed: while waiting, the caller has taken the turn (the key reaches the agent itself)."""
        if self.turn is Turn.WAITING:
            self._log.info("first speaker: the caller pressed a key first")
            self.detector = None
            self._user_turn("caller_key")

    async def give_agent_the_floor(self) -> None:
        """A command makes the agent speak (``say``): it has the floor now. While the caller was to speak
        first, what the agent sent meanwhile is dropped (the command's words are what is to be heard) and
        no fallback follows; during the agent's ``delay``, its turn starts now."""
        if self.turn is Turn.WAITING:
            self._log.info("first speaker: a command gave the agent the floor")
            self.turn = Turn.AGENT
            self.taken_by = "command"
            self.detector = None
            self._cancel_timer()
            await self._floor.release_audio(play_held=False)
        elif self.turn is Turn.AGENT and self._timer is not None:
            self._cancel_timer()
            await self._agent_turn()

    def close(self) -> None:
        """The call has ended: stop the clock and the listening, and count who took the first turn."""
        self._cancel_timer()
        self.detector = None
        metrics.FIRST_TURNS.labels(self.taken_by).inc()

    def _user_turn(self, taken_by: str) -> None:
        self.turn = Turn.USER
        self.taken_by = taken_by
        self._cancel_timer()
        self._spawn(self._floor.release_audio(play_held=False), "first-turn-release")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _tell(self, kind: str) -> None:
        await self._send({"type": kind})

    def _on_agent_delay(self) -> None:
        self._timer = None
        self._spawn(self._agent_turn(), "first-turn-agent")

    def _on_fallback(self) -> None:
        self._timer = None
        if self.turn is not Turn.WAITING:
            return
        self._log.info("first speaker: nobody spoke within fallback.delay, the agent speaks")
        self.turn = Turn.AGENT
        self.taken_by = "fallback"
        self.detector = None
        self._spawn(self._agent_turn(), "first-turn-fallback")

    async def _agent_turn(self) -> None:
        """The agent's turn: its held audio plays, then what it was given to say or answer is sent."""
        agent, user = self._settings.agent, self._settings.user
        lines = agent if agent is not None else user.fallback if user is not None else None
        await self._floor.release_audio(play_held=True)
        if self._floor.uninterruptible:
            self._spawn(self._protect_first_turn(), "first-turn-protect")
        if lines is None:
            return
        uninterruptible = agent is not None and agent.uninterruptible
        if lines.text is not None:
            await self._send(
                {
                    "type": "forced_agent_message",
                    "content": lines.text,
                    "urgency": "immediate",
                    "uninterruptible": uninterruptible,
                }
            )
        elif lines.prompt is not None:
            await self._send({"type": "user_text_message", "text": lines.prompt, "urgency": "immediate"})

    async def _protect_first_turn(self) -> None:
        """Barge-in is ignored until the agent's first turn has played: once audio started playing and
        everything sent has played (its marks came back)."""
        playout = self._playout
        try:
            nothing_yet = playout.dry_at <= self._clock.now()
            if nothing_yet and not await playout.wait_for_audio(FIRST_AUDIO_TIMEOUT_S):
                return
            await playout.wait_drained(FIRST_TURN_MAX_S)
        finally:
            self._floor.uninterruptible = False
