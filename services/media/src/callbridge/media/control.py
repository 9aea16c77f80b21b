"""What the agent's tools and the call's commands may do to a live call.

The session implements :class:`CallControl`; a tool handler (tools.py) or a command handler
(command_handlers.py) sees only this, so a new tool or command is a handler and a table entry, and the
session does not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import numpy.typing as npt

from callbridge.common.call_control import ColdTransfer
from callbridge.common.models.call import EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.warm_transfer import WarmTransfer, WarmTransferDecided

RenderAudio = Callable[[int], npt.NDArray[np.int16]]
"""Audio of callbridge's own, rendered at the rate it is asked for (the stream's outbound rate)."""


class CallControl(Protocol):
    @property
    def call_id(self) -> UUID: ...

    @property
    def started(self) -> bool:
        """The provider's stream has started and the agent is listening."""
        ...

    @property
    def ending(self) -> bool:
        """The call's end has been decided, or a hang-up is playing out the agent's last audio."""
        ...

    @property
    def agent_speaks_text(self) -> bool:
        """Whether the agent speaks what a ``forced_agent_message`` says (a WebSocket agent does)."""
        ...

    def play_own_audio(self, render: RenderAudio, margin_s: float) -> Coroutine[Any, Any, bool]:
        """Play audio of callbridge's own (DTMF tones) to the caller after what the agent already sent. The
        agent's further audio is held from this call on (queued, played after ours) and its barge-in does
        not cut ours, so call it before any await. The coroutine returned (await it, or spawn it) answers
        True once the provider reports ours played, False if it did not within ``margin_s`` of when it
        should have finished, or the stream has not started or the call is ending."""
        ...

    async def send_to_agent(self, message: dict[str, Any]) -> None:
        """A data message to the agent (bounded by the agent connection's send timeout)."""
        ...

    async def give_agent_the_floor(self) -> None:
        """The agent speaks now, whoever had the first turn (firstSpeakerSettings): a command made it."""
        ...

    async def say(self, text: str, *, uninterruptible: bool = False) -> bool:
        """The agent says ``text`` now: it gets the floor (firstSpeakerSettings) and a
        ``forced_agent_message``. False, and nothing sent, if the agent does not speak text or the call
        is ending."""
        ...

    def hang_up(
        self,
        reason: EndReason,
        detail: str,
        *,
        before_end: Callable[[], Awaitable[None]] | None = None,
        goodbye_asked: bool = False,
        unless_caller_acts: bool = False,
        if_cancelled: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Stop playing new agent audio, let what the agent sent play out (bounded), await ``before_end``,
        then end the call with ``reason``. Returns at once; False if the call was already ending.

        ``goodbye_asked``: the agent was just asked (``say``) to say something; it plays, all of it, before
        the agent's audio stops. ``unless_caller_acts``: the caller speaking or pressing a key before the
        end cancels the hang-up (the agent's audio plays again) and ``if_cancelled`` runs. See hang_up.py."""
        ...

    def tool_overrides(self, tool_name: str) -> dict[str, Any]:
        """The ``parameterOverrides`` (static parameters) of the call's ``selectedTools`` entry for
        ``tool_name``; empty if it has none."""
        ...

    def hand_off(
        self, target: str, *, close_stream: bool, before: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        """A cold transfer: stop playing new agent audio, let what the agent sent play out (bounded), await
        ``before``; the stream's end (by the provider, or here with ``close_stream``) then ends the call as
        ``transferred``. Returns at once; False if the call is ending otherwise. Again while a transfer is
        under way: True, and with ``close_stream`` the stream ends now."""
        ...

    def abort_hand_off(self, detail: str) -> bool:
        """The transfer failed: the agent speaks again. False if no transfer was under way or the call
        ended meanwhile."""
        ...

    async def request_transfer(self, command: ColdTransfer | WarmTransfer | WarmTransferDecided) -> None:
        """Publish the transfer command for the transfer service to carry out."""
        ...

    @property
    def provider(self) -> Provider | None:
        """The provider streaming the call (None before its stream started)."""
        ...

    @property
    def transfer_of(self) -> UUID | None:
        """A warm transfer's second leg: the caller's call it offers."""
        ...

    @property
    def agent_rate_hz(self) -> int:
        """The agent's output rate: what hold audio is made at."""
        ...

    def begin_warm_hold(self, invocation_id: str, target: str, audio: npt.NDArray[np.int16]) -> bool:
        """A warm transfer starts: the agent's audio stops and ``audio`` (at ``agent_rate_hz``) plays over and
        over until ``end_warm_hold``. False if the call is ending, not started or on hold already."""
        ...

    async def stop_hold(self) -> None:
        """The hold music stops at once and the agent's audio plays again (a no-op when not on hold)."""
        ...

    def take_warm_invocation(self) -> str | None:
        """The ``warmTransfer`` invocation waiting for its result (once), or None."""
        ...

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coroutine`` as one of the call's tasks: cancelled when the call ends, failures logged."""
        ...
