"""Audio of callbridge's own (DTMF tones) played to the caller through the call's normal playout.

The agent's audio already sent plays first (its part-filled frame too, padded), then ours, in the stream's
frames, rate and codec, each frame followed by its mark like the agent's. While ours plays, the agent's
further audio is held by the bridge and played after it, and the agent's ``playback_clear_buffer`` does not
reach the playout: a key press cut in half by the callee's voice would be a different key, or none. It
has played when the provider has echoed every mark sent (``Playout.wait_drained``), i.e. the caller heard
it. One piece plays at a time; a second waits for the first.
"""

from __future__ import annotations

import asyncio

import numpy as np

from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agent_bridge import AgentBridge
from callbridge.media.control import RenderAudio
from callbridge.media.playout import Playout


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

    async def play(self, render: RenderAudio, margin_s: float) -> bool:
        """Play ``render(rate_hz)`` to the caller once what the agent sent has; True once every mark up to
        its end has been echoed, False if that did not happen within ``margin_s`` of when it should have
        finished playing (by the playout's clock)."""
        async with self._lock:
            pcm = render(self.rate_hz)
            self._bridge.hold_for_own_audio()
            try:
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
                await self._bridge.release_after_own_audio()
