"""What a simulated call observed: the audio the caller heard, every message, mark echoes, violations.

All times are seconds on ``time.monotonic()`` relative to the stream start (the moment the WebSocket opened,
just before the first message is sent). Inbound frame ``chunk`` n (1-based) carries samples
``(n-1)*frame_samples`` to ``n*frame_samples`` of ``sent_audio`` (160 for 20 ms at 8 kHz) and was scheduled
at ``(n-1)*frame_s``, so ``heard`` and ``sent_audio`` share a time axis (and a rate, unless a Telnyx stream
asks for different codecs per direction) and ``delay_samples(sent_audio, heard)`` is the mouth-to-ear
delay of an echoing agent: its round trip plus the 0–20 ms a provider's clocked playout adds (playout.py).
The network part alone, per message, is ``echo_latencies_s()``.

One recording type serves every provider: a Plivo `checkpoint` is recorded as a mark, its `playedStream`
as the echo; the provider-specific extras (cleared acks, injected error frames, reordered sends) are empty
where a provider has none.
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
"""20 ms of μ-law at 8 kHz: one Twilio inbound media frame."""


@dataclass(slots=True)
class ReceivedMessage:
    """One WebSocket message from the server, as parsed JSON (None when it was not valid JSON)."""

    at_s: float
    event: str | None
    message: dict[str, Any] | None


@dataclass(slots=True)
class MarkEcho:
    """A `mark` (Plivo: `checkpoint`) the server sent and what the simulated provider did with it."""

    name: str
    received_at_s: float
    echoed_at_s: float | None = None
    """When the echo (Plivo: `playedStream`) was sent; None if it never was."""
    cleared: bool = False
    """True when a clear ended the mark rather than its audio finishing (§1.5: not "heard"): echoed at once
    by Twilio and Telnyx (Exotel by default), dropped unanswered by Plivo, leaving ``echoed_at_s`` None."""


@dataclass(slots=True)
class ProtocolViolation:
    """A server message the provider would not accept, or would mishandle (audio at the wrong rate, an
    Exotel chunk off its size rules): recorded; the message is ignored unless its audio would still play."""

    at_s: float
    reason: str
    raw: str
    """The offending message, cut to 200 characters."""


@dataclass(slots=True)
class StreamRecording:
    """Everything observed on one simulated media stream."""

    call_sid: str
    """The provider's call id: Twilio CallSid, Telnyx call_control_id, Plivo CallUUID, Exotel CallSid."""
    stream_sid: str
    """The stream id: Twilio streamSid, Telnyx stream_id, Plivo streamId, Exotel stream_sid."""
    sent_audio: npt.NDArray[np.int16]
    """The caller's audio as given (int16 at ``sample_rate_hz``); sample 0 was sent at time 0."""
    heard: npt.NDArray[np.int16] | None = None
    """What the caller heard (int16 at ``heard_rate_hz``, from time 0 to the end of the call), silence where
    nothing played; None when heard-audio recording was turned off."""
    heard_s: float = 0.0
    """How long the server's audio played to the caller: what reached the playout buffer, less what a
    clear or the end of the call cut off (silence between the server's messages is not counted)."""
    provider: str = "twilio"
    sample_rate_hz: int = 8000
    """Rate of the inbound (caller) audio, as the provider's `start` announced it."""
    heard_rate_hz: int = 8000
    """Rate of the outbound (agent) audio the provider plays."""
    inbound_encoding: str = "PCMU"
    outbound_encoding: str = "PCMU"
    frame_s: float = 0.020
    """Length of one inbound media frame (Exotel may send 100 ms)."""
    outbound_bytes_per_frame: int = FRAME_BYTES
    """Outbound payload bytes that play for one inbound frame's time (20 ms of L16 at 16 kHz: 640)."""
    inbound_sent_at_s: list[float] = field(default_factory=list)
    """Send time of each inbound media frame: index i is ``chunk`` i+1 (also when frames went out of
    order; if the call ended while a delayed frame was held, the chunks actually sent, in chunk order)."""
    inbound_send_order: list[int] = field(default_factory=list)
    """The ``chunk`` of each inbound frame in the order it was sent: 1, 2, 3… unless frames were reordered
    (Telnyx, §2.2)."""
    outbound_media_at_s: list[float] = field(default_factory=list)
    """Arrival time of each outbound audio message (`media`, Plivo `playAudio`), in order."""
    outbound_media_bytes: list[int] = field(default_factory=list)
    """Decoded payload size of each outbound audio message, in bytes of the outbound encoding."""
    received: list[ReceivedMessage] = field(default_factory=list)
    """Every message from the server; `media` messages only when media-message recording was on."""
    marks: list[MarkEcho] = field(default_factory=list)
    clears_at_s: list[float] = field(default_factory=list)
    cleared_acks_at_s: list[float] = field(default_factory=list)
    """When each clear was acknowledged (Plivo `clearedAudio`; the others acknowledge with mark echoes)."""
    dtmf_sent: list[tuple[float, str]] = field(default_factory=list)
    dtmf_heard: list[tuple[float, str]] = field(default_factory=list)
    """Keys the callee recognised in band in the server's audio, with when (a phone menu: phone_menu.py)."""
    error_frames_sent: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Injected provider error frames (Telnyx `error`, §2.2) with their send times."""
    violations: list[ProtocolViolation] = field(default_factory=list)
    stop_sent_at_s: float | None = None
    ended_by: EndedBy = "simulator"
    ended_at_s: float = 0.0
    close_code: int | None = None
    close_reason: str = ""
    max_send_lateness_s: float = 0.0
    """Largest delay of an inbound frame behind its schedule (event-loop load shows up here)."""

    @property
    def frames_sent(self) -> int:
        return len(self.inbound_sent_at_s)

    @property
    def unechoed_marks(self) -> list[MarkEcho]:
        """Marks still pending when the call ended (not those a clear dropped: see ``MarkEcho.cleared``)."""
        return [mark for mark in self.marks if mark.echoed_at_s is None and not mark.cleared]

    def echo_latencies_s(self) -> list[float]:
        """Provider-frame-to-echo latency of each outbound audio message, for an echoing agent.

        Assumes the server sends the caller's audio back in order in the outbound encoding (any chunk
        sizes, no audio added or dropped in front). Outbound message k starts at byte offset
        ``sum(sizes[:k])`` of the echo, which falls in inbound chunk
        ``offset // outbound_bytes_per_frame + 1`` (160 bytes for Twilio); its latency is its arrival time
        minus that chunk's send time. Messages beyond the audio that was sent are left out.
        """
        latencies: list[float] = []
        offset = 0
        for arrived_at_s, size in zip(self.outbound_media_at_s, self.outbound_media_bytes, strict=True):
            frame_index = offset // self.outbound_bytes_per_frame
            if frame_index >= len(self.inbound_sent_at_s):
                break
            latencies.append(arrived_at_s - self.inbound_sent_at_s[frame_index])
            offset += size
        return latencies

    def events(self) -> list[str | None]:
        """The `event` of every recorded message from the server, in order."""
        return [message.event for message in self.received]
