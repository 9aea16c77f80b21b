"""The call as its agent sees it: the agent's audio to the caller, its messages to events and actions.

:class:`AgentBridge` is the :class:`~callbridge.media.agents.base.AgentListener` a call hands its agent.
Messages arrive parsed and bounded (agents/messages.py); here they become what they mean: barge-in,
``transcript``/``state``/``tool`` events, the ``hangUp`` tool (the goodbye plays out, then the call ends)
and an error result for tools callbridge does not implement.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Final
from uuid import UUID

from callbridge.common.events import AgentStateChanged, AgentToolInvoked, AgentTranscript, PlayoutTruncated
from callbridge.common.models.call import EndReason
from callbridge.media import metrics
from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agents.base import AgentConnection
from callbridge.media.agents.messages import (
    PARAMETERS_DROPPED,
    AgentMessage,
    ClientToolInvocation,
    PlaybackClearBuffer,
    StateChanged,
    Transcript,
)
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.playout import Playout
from callbridge.media.ratelimit import CallLog

HANG_UP_TOOL: Final = "hangUp"


class AgentBridge:
    def __init__(
        self,
        call_id: UUID,
        agent: AgentConnection,
        framer: AgentAudioFramer,
        playout: Playout,
        lifecycle: CallLifecycle,
        log: CallLog,
        *,
        hang_up_drain_timeout_s: float,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        request_end: Callable[[EndReason, str], None],
    ) -> None:
        self._call_id = call_id
        self._agent = agent
        self._framer = framer
        self._playout = playout
        self._lifecycle = lifecycle
        self._log = log
        self._hang_up_drain_timeout_s = hang_up_drain_timeout_s
        self._spawn = spawn
        self._request_end = request_end
        self.ending = False
        """The call's end was decided: the agent's audio is no longer played."""
        self.closed = False
        """The call's record is final: nothing more is published for it."""

    async def on_agent_audio(self, pcm: bytes) -> None:
        if not self.ending:
            await self._framer.push(pcm)

    async def on_agent_message(self, message: AgentMessage) -> None:
        if self.closed:
            return
        if isinstance(message, PlaybackClearBuffer):
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
        handled = name == HANG_UP_TOOL
        self._lifecycle.publish(
            AgentToolInvoked(
                call_id=self._call_id,
                tool_name=name,
                invocation_id=invocation_id,
                parameters=message.parameters,
                handled=handled,
            )
        )
        if handled:
            self._spawn(self._hang_up(invocation_id), "hang-up")
            return
        await self._agent.send_message(
            {
                "type": "client_tool_result",
                "invocationId": invocation_id,
                "errorType": "undefined",
                "errorMessage": f"tool {name!r} is not implemented by callbridge",
            }
        )

    async def _hang_up(self, invocation_id: str) -> None:
        """``hangUp``: let the goodbye play out (marks echoed), answer the tool, end the call."""
        await self._framer.flush()  # the agent is done: its last part-frame need not wait
        if not await self._playout.wait_drained(self._hang_up_drain_timeout_s):
            self._log.warning("hanging up before the agent's audio finished playing")
        await self._agent.send_message(
            {
                "type": "client_tool_result",
                "invocationId": invocation_id,
                "result": "call ended",
                "responseType": "hang-up",
            }
        )
        self._request_end(EndReason.AGENT_HANGUP, "agent invoked hangUp")
