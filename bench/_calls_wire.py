"""What the lean load client needs from one provider's media-stream wire format, and the parts they share.

A `Wire` is one call's provider side of the stream (/work/shared/reference/provider-protocols.md §1-§4):
the messages it opens with, each inbound `media` frame, the answer to a mark that has played, the answer to
a clear and `stop`, all as ready JSON bytes on one per-stream sequence counter; and `read`, which checks
one server message against what that provider accepts and says what it is. The sending, receiving, playout
and latency machinery is the same for every provider (_calls_client.py); only these shapes differ.

Outbound JSON is built from byte templates: the ids are fixed per call and the payloads are pre-encoded
base64, so a frame costs one ``%`` and no serializer (see _calls_ws.py for why the client is this lean).
"""

import base64
import binascii
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from callbridge.devkit.simulators.audio_codec import AudioCodec

FRAME_MS = 20  # every provider here sends the caller's audio in 20 ms frames
SIGNAL_STEP = 0.5  # mean |sample step| below which an L16 message is silence and says nothing of byte order
BYTE_ORDER_MARGIN = 2.0  # the wrong reading of real audio steps far more (see media's byte_order.py)


@dataclass(frozen=True, slots=True)
class Heard:
    """One server message as the provider understood it: audio to play, a mark or a clear, and what is
    wrong with it. Audio that breaks a rule but would still be played (a chunk of the wrong size, the wrong
    byte order) carries both: it is played and counted, and so is the violation."""

    audio: bytes = b""
    mark: str | None = None
    clear: bool = False
    violation: str | None = None


CLEAR = Heard(clear=True)


def violation(reason: str) -> Heard:
    return Heard(violation=reason)


def payload_of(media: object) -> bytes:
    """``media.payload`` base64-decoded; empty when absent or not base64 (the caller reports it)."""
    payload = media.get("payload") if isinstance(media, dict) else None
    if not isinstance(payload, str):
        return b""
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        return b""


def name_of(body: object, key: str = "name") -> str | None:
    name = body.get(key) if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def mean_step(audio: bytes, dtype: str) -> float:
    samples = np.frombuffer(audio, dtype=dtype).astype(np.int32)
    return float(np.abs(np.diff(samples)).mean()) if samples.size > 1 else 0.0


class Wire(ABC):
    """One call's provider side of the stream. Subclasses fix the format both ways in ``codec``."""

    provider: ClassVar[str]
    codec: ClassVar[AudioCodec]
    """What the caller sends and expects back: callbridge's medium asks for the same format both ways."""
    medium: ClassVar[dict[str, Any]]
    """The ``medium`` of ``POST /api/calls``, as callbridge's webhooks would set it for this provider."""
    echo_chunk_frames: ClassVar[int] = 1
    """Inbound frames per audio message media sends back; it sends whole messages only, so a run's frame
    count must be a multiple of this for all of them to come back."""
    answers_cleared_marks: ClassVar[bool] = True
    """Twilio, Telnyx (and, assumed, Exotel) echo pending marks on clear; Plivo drops its checkpoints."""

    def __init__(self) -> None:
        self._sequence = 0
        self._byte_order_checked = self.codec.encoding != "L16"

    @property
    def frame_samples(self) -> int:
        return self.codec.samples(FRAME_MS / 1000)

    @abstractmethod
    def opening(self) -> list[bytes]:
        """What the provider sends before any audio (`connected`, `start`, or `start` alone)."""

    @abstractmethod
    def media(self, index: int, payload: bytes) -> bytes:
        """Inbound frame ``index`` (from 0) carrying the base64 ``payload``; takes a sequence number."""

    @abstractmethod
    def mark_played(self, name: str) -> bytes:
        """The answer to a mark (or checkpoint) whose audio has played."""

    def clear_answer(self) -> bytes | None:
        """What answers a clear besides the mark echoes (Plivo's `clearedAudio`); None for most."""
        return None

    @abstractmethod
    def stop(self) -> bytes:
        """The provider's hang-up message."""

    @abstractmethod
    def read(self, message: dict[str, Any]) -> Heard:
        """Check one server message against what the provider accepts (its §x.3) and classify it."""

    def audio(self, data: bytes) -> Heard:
        """Server audio in ``codec``: whole samples, and (once per call) in the stream's byte order."""
        if not data:
            return violation("media without a base64 payload")
        if self.codec.encoding == "L16":
            if len(data) & 1:
                return violation(f"L16 audio of {len(data)} bytes (16-bit samples need an even count)")
            if not self._byte_order_checked:
                # Still played, as the provider would (as noise): the echo counts, the violation too.
                return Heard(audio=data, violation=self._byte_order_problem(data))
        return Heard(audio=data)

    def _byte_order_problem(self, data: bytes) -> str | None:
        expected, other = (">i2", "<i2") if self.codec.byte_order == "big" else ("<i2", ">i2")
        expected_step, other_step = mean_step(data, expected), mean_step(data, other)
        if expected_step + other_step < SIGNAL_STEP:
            return None  # silence: try the next message
        self._byte_order_checked = True
        if expected_step >= BYTE_ORDER_MARGIN * other_step:
            return f"L16 audio is not {self.codec.byte_order}-endian, as the stream's is"
        return None

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
