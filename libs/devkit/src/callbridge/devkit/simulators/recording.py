"""What a simulated call observed: the audio the caller heard, every message, mark echoes, violations.

All times are seconds on ``time.monotonic()`` relative to the stream start (the moment the WebSocket opened,
just before `connected` is sent). Inbound frame ``chunk`` n (1-based) carries samples ``(n-1)*160`` to
``n*160`` of ``sent_audio`` and was scheduled at ``(n-1)*0.020`` s, so ``heard`` and ``sent_audio`` share
a time axis and ``delay_samples(sent_audio, heard)`` is the mouth-to-ear delay of an echoing agent: its
round trip plus the 0–20 ms a provider's clocked playout adds (playout.py). The network part alone, per
message, is ``echo_latencies_s()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["EndedBy", "MarkEcho", "ProtocolViolation", "ReceivedMessage", "StreamRecording"]

EndedBy = Literal["simulator", "server", "connection_lost", "timeout"]
"""Who ended the stream: the simulated caller (`stop`, then close), the server closing the WebSocket, the
connection dropping without a close frame, or the simulator's overall deadline."""

FRAME_BYTES = 160
"""20 ms of μ-law at 8 kHz: one inbound media frame."""


@dataclass(slots=True)
class ReceivedMessage:
    """One WebSocket message from the server, as parsed JSON (None when it was not valid JSON)."""

    at_s: float
    event: str | None
    message: dict[str, Any] | None


@dataclass(slots=True)
class MarkEcho:
    """A `mark` the server sent and what the simulated provider did with it."""

    name: str
    received_at_s: float
    echoed_at_s: float | None = None
    cleared: bool = False
    """True when the echo came from a `clear` rather than from the audio finishing (§1.5: not "heard")."""


@dataclass(slots=True)
class ProtocolViolation:
    """A server message Twilio would not accept; the simulator records it and ignores the message."""

    at_s: float
    reason: str
    raw: str
    """The offending message, cut to 200 characters."""


@dataclass(slots=True)
class StreamRecording:
    """Everything observed on one simulated media stream."""

    call_sid: str
    stream_sid: str
    sent_audio: npt.NDArray[np.int16]
    """The caller's audio as given (int16, 8 kHz); sample 0 was sent at time 0."""
    heard: npt.NDArray[np.int16] | None = None
    """What the caller heard (int16, 8 kHz, from time 0 to the end of the call), silence where nothing
    played; None when heard-audio recording was turned off."""
    inbound_sent_at_s: list[float] = field(default_factory=list)
    """Send time of each inbound media frame: index i is ``chunk`` i+1."""
    outbound_media_at_s: list[float] = field(default_factory=list)
    """Arrival time of each outbound `media` message, in order."""
    outbound_media_bytes: list[int] = field(default_factory=list)
    """Decoded payload size of each outbound `media` message (μ-law bytes = samples)."""
    received: list[ReceivedMessage] = field(default_factory=list)
    """Every message from the server; `media` messages only when media-message recording was on."""
    marks: list[MarkEcho] = field(default_factory=list)
    clears_at_s: list[float] = field(default_factory=list)
    dtmf_sent: list[tuple[float, str]] = field(default_factory=list)
    violations: list[ProtocolViolation] = field(default_factory=list)
    stop_sent_at_s: float | None = None
    ended_by: EndedBy = "simulator"
    ended_at_s: float = 0.0
    close_code: int | None = None
    close_reason: str = ""
    max_send_lateness_s: float = 0.0
    """Largest delay of an inbound frame behind its 20 ms schedule (event-loop load shows up here)."""

    @property
    def frames_sent(self) -> int:
        return len(self.inbound_sent_at_s)

    @property
    def unechoed_marks(self) -> list[MarkEcho]:
        """Marks still pending when the call ended."""
        return [mark for mark in self.marks if mark.echoed_at_s is None]

    def echo_latencies_s(self) -> list[float]:
        """Provider-frame-to-echo latency of each outbound `media` message, for an echoing agent.

        Assumes the server sends the caller's audio back byte for byte in order (any chunk sizes, no audio
        added or dropped in front). Outbound message k starts at byte offset ``sum(sizes[:k])`` of the echo,
        which is byte ``offset % 160`` of inbound chunk ``offset // 160 + 1``; its latency is its arrival
        time minus that chunk's send time. Messages beyond the audio that was sent are left out.
        """
        latencies: list[float] = []
        offset = 0
        for arrived_at_s, size in zip(self.outbound_media_at_s, self.outbound_media_bytes, strict=True):
            frame_index = offset // FRAME_BYTES
            if frame_index >= len(self.inbound_sent_at_s):
                break
            latencies.append(arrived_at_s - self.inbound_sent_at_s[frame_index])
            offset += size
        return latencies

    def events(self) -> list[str | None]:
        """The `event` of every recorded message from the server, in order."""
        return [message.event for message in self.received]
