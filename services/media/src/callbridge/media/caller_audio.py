"""The caller's side of a call, to the agent: audio at the agent's input rate, keys pressed as text.

Caller audio is resampled (stateful, per call) to the agent's input rate and sent as it arrives, one
message per provider frame: the hot path is one resample and one send. Keys are published as ``dtmf``
events and reach the agent as ``user_text_message`` (batched and templated by dtmf.py).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import numpy as np
import numpy.typing as npt

from callbridge.common.events import CallEvent, DtmfReceived
from callbridge.common.models.medium import DtmfHandling, Urgency
from callbridge.media.agents.base import AgentConnection
from callbridge.media.audio.resampler import Resampler
from callbridge.media.dtmf import DtmfBatcher


class CallerAudio:
    def __init__(
        self,
        call_id: UUID,
        agent: AgentConnection,
        resampler: Resampler,
        dtmf_handling: DtmfHandling,
        publish: Callable[[CallEvent], None],
    ) -> None:
        self._call_id = call_id
        self._agent = agent
        self.send_audio = agent.send_audio
        """The agent's audio sink and the resampler, for the session's receive loop to call directly
        (``on_audio`` is the same as one call, one coroutine layer less per frame)."""
        self.resample = resampler.process
        self._publish = publish
        self._dtmf = DtmfBatcher(dtmf_handling, self._send_digits)

    async def on_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """One provider frame of the caller's audio (int16 at the stream's rate)."""
        await self.send_audio(self.resample(pcm).tobytes())

    def on_dtmf(self, digit: str) -> None:
        self._publish(DtmfReceived(call_id=self._call_id, digit=digit))
        self._dtmf.press(digit)

    async def _send_digits(self, text: str, urgency: Urgency) -> None:
        await self._agent.send_message({"type": "user_text_message", "text": text, "urgency": urgency.wire})

    async def close(self) -> None:
        """The call is over: keys not sent yet are dropped."""
        await self._dtmf.close()
