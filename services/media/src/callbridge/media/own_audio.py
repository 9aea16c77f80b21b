"""Audio of callbridge's own (DTMF tones) played to the caller through the call's normal playout.

The agent's audio already sent plays first (its part-filled frame too, padded), then ours, in the stream's
frames, rate and codec, each frame followed by its mark like the agent's. While ours plays, the agent's
further audio is held by the bridge and played after it, and the agent's ``playback_clear_buffer`` does not
reach the playout: a key press cut in half by the callee's voice would be a different key, or none. It
has played when the provider has echoed every mark sent (``Playout.wait_drained``), i.e. the caller heard
it. One piece plays at a time; a second waits for the first. While ours plays, and for ``ECHO_TAIL_S``
after, keys heard in band in the caller's audio may be our own echoed back by the line, and are not taken
as the caller's (``echo_possible``, read by caller_keys.py).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine
from typing import Any

import numpy as np

from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agent_bridge import AgentBridge
from callbridge.media.control import RenderAudio
from callbridge.media.playout import Playout

ECHO_TAIL_S = 0.5
"""How long after our audio has played an echo of it may still come back in the caller's audio (a phone
line's echo path is tens of milliseconds; the provider's buffers and the network add more)."""


class OwnAudio:
    def __init__(
        self, playout: Playout, framer: AgentAudioFramer, bridge: AgentBridge, *, rate_hz: int
    ) -> None:
        self._playout = playout
        self._framer = framer
        self._bridge = bridge
        self.rate_hz = rate_hz
        """The stream's outbound rate: what ``render`` is asked for."""
        self._frame_samples = rate_hz * playout.frame_ms // 1000
        self._lock = asyncio.Lock()
        self._pieces = 0
        """Pieces asked for and not yet played (or given up): the agent's audio is held while any is."""
        self._ended_at = -math.inf
        """When the last piece was reported played (the playout's clock)."""

    def echo_possible(self) -> bool:
        """Whether what the caller sends may still carry an echo of ours: while it plays and for
        ``ECHO_TAIL_S`` after (a line's echo of our keys must not count as the caller's keys)."""
        return bool(self._pieces) or self._playout.clock.now() - self._ended_at < ECHO_TAIL_S

    def play(self, render: RenderAudio, margin_s: float) -> Coroutine[Any, Any, bool]:
        """Play ``render(rate_hz)`` to the caller once what the agent sent has. The agent's audio is held
        from this call on (what it sends next plays after ours), so the call comes before any await; the
        coroutine returned plays and answers True once every mark up to its end has been echoed, False if
        that did not happen within ``margin_s`` of when it should have finished (by the playout's clock)."""
        self._pieces += 1
        self._bridge.hold_for_own_audio()
        return self._play(render, margin_s)

    async def _play(self, render: RenderAudio, margin_s: float) -> bool:
        try:
            async with self._lock:
                pcm = render(self.rate_hz)
                await self._framer.flush()  # the agent's last part-frame goes before ours, not after
                step = self._frame_samples
                padding = -pcm.size % step
                if padding:
                    pcm = np.concatenate([pcm, np.zeros(padding, dtype=np.int16)])
                play = self._playout.play
                for start in range(0, pcm.size, step):
                    await play(pcm[start : start + step])
                playout = self._playout
                return await playout.wait_drained(max(0.0, playout.dry_at - playout.clock.now()) + margin_s)
        finally:
            self._pieces -= 1
            self._ended_at = self._playout.clock.now()
            if not self._pieces:
                await self._bridge.release_after_own_audio()
