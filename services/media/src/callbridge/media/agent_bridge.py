"""The call as its agent sees it: the agent's audio to the caller, its messages to events and actions.

:class:`AgentBridge` is the :class:`~callbridge.media.agents.base.AgentListener` a call hands its agent.
Messages arrive parsed and bounded (agents/messages.py); here they become what they mean: barge-in,
``transcript``/``state``/``tool`` events, and tools, which the call's tool table carries out (tools.py;
a tool not in it is answered with an error result).

Until the agent has the floor (first_speaker.py), its audio is held here rather than played: at most
``MAX_HELD_S`` of it, the rest dropped and counted. While its first turn is ``uninterruptible``, its
``playback_clear_buffer`` is ignored (counted). While callbridge plays audio of its own (DTMF tones,
own_audio.py), the agent's audio is held the same way and played after, and a ``playback_clear_buffer``
cuts only what is held, never the tones.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Final
from uuid import UUID

from callbridge.common.events import AgentStateChanged, AgentToolInvoked, AgentTranscript, PlayoutTruncated
from callbridge.common.models.call import EndReason
from callbridge.media import metrics
from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agents.messages import (
    PARAMETERS_DROPPED,
    AgentMessage,
    ClientToolInvocation,
    PlaybackClearBuffer,
    StateChanged,
    Transcript,
)
from callbridge.media.control import CallControl
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.playout import Playout
from callbridge.media.ratelimit import CallLog
from callbridge.media.tools import ToolHandler, tool_error

MAX_HELD_S: Final = 30.0
"""Agent audio held while the floor is not the agent's: a greeting's worth, bounded."""


class AgentBridge:
    def __init__(
        self,
        call: CallControl,
        framer: AgentAudioFramer,
        playout: Playout,
        lifecycle: CallLifecycle,
        log: CallLog,
        tools: Mapping[str, ToolHandler],
        request_end: Callable[[EndReason, str], None],
    ) -> None:
        self._call = call
        self._call_id: UUID = call.call_id
        self._framer = framer
        self._playout = playout
        self._lifecycle = lifecycle
        self._log = log
        self._tools = tools
        self._request_end = request_end
        self._ending = False
        self._on_hold = False
        self._holding = False
        self._own_audio_playing = False
        self._held = bytearray()
        self._max_held_bytes = int(MAX_HELD_S * framer.agent_rate_hz) * 2
        # Agent audio goes straight to the framer (no layer per chunk); while held, to the hold; once the
        # call is ending, nowhere.
        self.on_agent_audio: Callable[[bytes], Awaitable[None]] = framer.push
        self.closed = False
        """The call's record is final: nothing more is published for it."""
        self.uninterruptible = False
        """The agent's first turn is playing and may not be cut: its playback_clear_buffer is ignored."""
        self.clears_ignored = 0
        self.held_bytes_dropped = 0
        """Agent audio beyond MAX_HELD_S while held, and held audio dropped because the caller spoke first."""

    @property
    def ending(self) -> bool:
        """The call is ending (or hanging up): audio the agent sends from now on is not played."""
        return self._ending

    @ending.setter
    def ending(self, ending: bool) -> None:
        self._ending = ending
        self._route_audio()

    @property
    def on_hold(self) -> bool:
        """The caller is on hold (a warm transfer): the agent's audio is dropped, its clears ignored."""
        return self._on_hold

    @on_hold.setter
    def on_hold(self, on_hold: bool) -> None:
        self._on_hold = on_hold
        self._route_audio()

    def _route_audio(self) -> None:
        if self._ending or self._on_hold:
            self.on_agent_audio = _drop_audio
        elif self._holding or self._own_audio_playing:
            self.on_agent_audio = self._hold
        else:
            self.on_agent_audio = self._framer.push

    def hold_audio(self) -> None:
        """The floor is not the agent's: keep its audio back until ``release_audio``."""
        self._holding = True
        self._route_audio()

    async def release_audio(self, *, play_held: bool) -> None:
        """The agent's audio plays again, what was held first (``play_held``) or dropped."""
        self._holding = False
        if not play_held:
            self.held_bytes_dropped += len(self._held)
            self._held = bytearray()
        await self._play_held()

    def hold_for_own_audio(self) -> None:
        """callbridge's own audio is about to play: the agent's waits (held, played after), and its
        ``playback_clear_buffer`` cuts only what is held."""
        self._own_audio_playing = True
        self._route_audio()

    async def release_after_own_audio(self) -> None:
        """callbridge's own audio has played: the agent's plays again, what was held first."""
        self._own_audio_playing = False
        await self._play_held()

    async def _play_held(self) -> None:
        """Play what was held once nothing holds it any more."""
        self._route_audio()
        if self._holding or self._own_audio_playing:
            return
        held, self._held = self._held, bytearray()
        if held and not self._ending:
            await self._framer.push(bytes(held))

    async def _hold(self, pcm: bytes) -> None:
        room = self._max_held_bytes - len(self._held)
        if len(pcm) > room:
            self.held_bytes_dropped += len(pcm) - max(room, 0)
            pcm = pcm[: max(room, 0)]
        self._held += pcm

    async def on_agent_message(self, message: AgentMessage) -> None:
        if self.closed:
            return
        if isinstance(message, PlaybackClearBuffer):
            if self.uninterruptible or self._on_hold:
                self.clears_ignored += 1
            elif self._holding or self._own_audio_playing:
                self._held.clear()  # nothing of it played yet: the cut turn is what was held
            else:
                await self._barge_in()
        elif isinstance(message, Transcript):
            self._lifecycle.publish(
                AgentTranscript(
                    call_id=self._call_id,
                    role=message.role,
                    text=message.text,
                    delta=message.delta,
                    final=message.final,
                    ordinal=message.ordinal,
                )
            )
        elif isinstance(message, StateChanged):
            self._lifecycle.publish(AgentStateChanged(call_id=self._call_id, state=message.state))
        elif isinstance(message, ClientToolInvocation):
            await self._on_tool(message)

    def on_agent_closed(self, error: str | None) -> None:
        if error is None:
            self._request_end(EndReason.AGENT_HANGUP, "agent closed the connection")
        else:
            self._request_end(EndReason.CONNECTION_ERROR, error)

    async def _barge_in(self) -> None:
        self._framer.clear()
        truncation = await self._playout.clear()
        metrics.BARGE_INS.inc()
        if truncation.heard_ms >= truncation.sent_ms and not truncation.dropped_frames:
            return  # the turn had fully played: nothing was cut
        self._lifecycle.publish(
            PlayoutTruncated(
                call_id=self._call_id,
                turn=truncation.turn,
                sent_ms=truncation.sent_ms,
                acknowledged_ms=truncation.acknowledged_ms,
                heard_ms=truncation.heard_ms,
                dropped_frames=truncation.dropped_frames,
            )
        )

    async def _on_tool(self, message: ClientToolInvocation) -> None:
        name = message.tool_name
        invocation_id = message.invocation_id or str(uuid.uuid4())
        dropped = message.parameters.get(PARAMETERS_DROPPED)
        if isinstance(dropped, str) and len(message.parameters) == 1:
            self._log.warning("tool %s (%s): %s", name, invocation_id, dropped)
        handler = self._tools.get(name)
        self._lifecycle.publish(
            AgentToolInvoked(
                call_id=self._call_id,
                tool_name=name,
                invocation_id=invocation_id,
                parameters=message.parameters,
                handled=handler is not None,
            )
        )
        if handler is None:
            await self._call.send_to_agent(
                tool_error(invocation_id, f"tool {name!r} is not implemented by callbridge")
            )
            return
        await handler.invoke(invocation_id, message.parameters, self._call)


async def _drop_audio(pcm: bytes) -> None:
    """Where agent audio goes once the call is ending: not played."""
