"""Telnyx media streaming wire format (bidirectional RTP mode), from Telnyx's side.

Reference: /work/shared/reference/provider-protocols.md §2.2 (Telnyx SENDS), §2.3 (Telnyx ACCEPTS) and §2.5
(audio formats), from developers.telnyx.com/docs/voice/programmable-voice/media-streaming. Key order follows
the documented examples. Unlike Twilio, the ids and fields are snake_case, `stream_id` is top-level, and
frames may arrive out of order (`frame_delays` makes them do so).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.wire import (
    AudioReader,
    ServerMessage,
    json_slot,
    media_payload,
    message_template,
    number_text_slot,
    read_event,
    read_mark,
    text_slot,
)

__all__ = ["ACCEPTED_EVENTS", "TelnyxStreamError", "TelnyxWire", "frame_delays", "new_stream_id"]

ACCEPTED_EVENTS = frozenset({"media", "mark", "clear"})  # §2.3
# §2.3: "Chunks of audio can be 20 milliseconds to 30 seconds" in RTP mode.
MIN_CHUNK_S = 0.020
MAX_CHUNK_S = 30.0


@dataclass(frozen=True, slots=True)
class TelnyxStreamError:
    """The payload of a Telnyx `error` frame (§2.2): code, title, detail.

    §2.2 lists codes 100002 `unknown_error`, 100003 `malformed_frame`, 100004 `invalid_media` (not base64)
    and 100005 `rate_limit_reached`; only 100003's detail text is documented.
    """

    code: int
    title: str
    detail: str

    @classmethod
    def malformed_frame(cls) -> TelnyxStreamError:
        return cls(100003, "malformed_frame", "Received frame was not formed correctly")


def new_stream_id() -> str:
    """A stream id shaped like the documented ones: an upper-case UUID (§2.2)."""
    return str(uuid.uuid4()).upper()


def frame_delays(probability: float, max_displacement: int, seed: int | None) -> Callable[[int], int]:
    """Per-frame hold-back in frames, for out-of-order delivery (§2.2: "Order is not guaranteed").

    Each frame is held back by 1..``max_displacement`` frames with ``probability``. A frame held back d
    frames goes out after at most d later ones, and a frame overtakes only frames at most
    ``max_displacement`` before it, so no frame lands more than ``max_displacement`` places from its own.
    Call the result once per frame, in frame order: the draws are reproducible for a given ``seed``.
    """
    if not 0.0 <= probability <= 1.0 or max_displacement < 1:
        raise ValueError(
            f"need 0 <= probability <= 1 and max_displacement >= 1, got {probability}, {max_displacement}"
        )
    rng = np.random.default_rng(seed)

    def delay(_index: int) -> int:
        if rng.random() >= probability:
            return 0
        return int(rng.integers(1, max_displacement, endpoint=True))

    return delay


class TelnyxWire:
    """Telnyx's messages for one stream; `sequence_number` is one string counter from `start` on (§2.2)."""

    provider = "telnyx"
    audio_event = "media"

    def __init__(
        self,
        *,
        call_control_id: str,
        stream_id: str,
        from_number: str,
        to_number: str,
        custom_parameters: dict[str, str],
        inbound: AudioCodec,
        outbound: AudioCodec,
        frame_ms: int,
    ) -> None:
        self.call_id = call_control_id
        self.stream_id = stream_id
        self._user_id = str(uuid.uuid4()).upper()
        self._call_session_id = str(uuid.uuid4())
        self._from_number = from_number
        self._to_number = to_number
        self._custom_parameters = custom_parameters
        self._inbound = inbound
        self._outbound = outbound
        self._frame_ms = frame_ms
        self._sequence = 0
        # RTP mode: the server's audio is in the bidirectionalCodec at its rate, never the inbound one (§2.5).
        self._audio = AudioReader(outbound)
        # The documented example does not say what `timestamp` counts; the simulator uses ms from the
        # stream start, as Twilio does [INFERRED]. The server should order by chunk or sequence_number.
        media = {
            "event": "media",
            "sequence_number": number_text_slot("sequence"),
            "media": {
                "track": "inbound",
                "chunk": number_text_slot("chunk"),
                "timestamp": number_text_slot("timestamp"),
                "payload": text_slot("payload"),
            },
            "stream_id": stream_id,
        }
        self._media = message_template(media, ("sequence", "chunk", "timestamp", "payload"))
        # §2.3: echoed when its audio has played, and by `clear` ("sends back all queued marks").
        mark = {
            "event": "mark",
            "stream_id": stream_id,
            "sequence_number": number_text_slot("sequence"),
            "mark": {"name": json_slot("name")},
        }
        self._mark = message_template(mark, ("sequence", "name"))

    def opening(self) -> list[bytes]:
        start = {
            "event": "start",
            "sequence_number": str(self._next()),
            "start": {
                "user_id": self._user_id,
                "call_control_id": self.call_id,
                "call_session_id": self._call_session_id,
                "from": self._from_number,
                "to": self._to_number,
                # The codec Telnyx actually streams, which may not be the one asked for (§2.1): decode by it.
                "media_format": {
                    "encoding": self._inbound.encoding,
                    "sample_rate": self._inbound.sample_rate_hz,
                    "channels": 1,
                },
                # TeXML <Parameter>s are "included in the start message" without saying where (§2.1, §7.2);
                # the simulator puts them here, named like the other snake_case start fields [INFERRED].
                "custom_parameters": self._custom_parameters,
            },
            "stream_id": self.stream_id,
        }
        return [orjson.dumps({"event": "connected", "version": "1.0.0"}), orjson.dumps(start)]

    def media(self, chunk: int, payload: bytes) -> bytes:
        return self._media % (self._next(), chunk, (chunk - 1) * self._frame_ms, payload)

    def dtmf(self, digit: str) -> bytes:
        occurred_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as in §2.2's example
        message = {
            "event": "dtmf",
            "stream_id": self.stream_id,
            "occurred_at": occurred_at,
            "sequence_number": str(self._next()),
            "dtmf": {"digit": digit},
        }
        return orjson.dumps(message)

    def mark_echo(self, name: str, *, cleared: bool) -> bytes:
        return self._mark % (self._next(), orjson.dumps(name))

    def clear_ack(self) -> None:
        return None  # answered only with the mark echoes

    def stop(self) -> bytes:
        stop = {
            "event": "stop",
            "sequence_number": str(self._next()),
            "stop": {"user_id": self._user_id, "call_control_id": self.call_id},
            "stream_id": self.stream_id,
        }
        return orjson.dumps(stop)

    def error_frame(self, error: TelnyxStreamError) -> dict[str, Any]:
        # §2.2's example has no sequence_number on `error`.
        payload = {"code": error.code, "title": error.title, "detail": error.detail}
        return {"event": "error", "payload": payload, "stream_id": self.stream_id}

    def read(self, text: str | bytes) -> ServerMessage:
        """Parse and check one server message against §2.3."""
        # §2.3: stream_id is optional on what the server sends; a wrong one is a server bug all the same.
        parsed = read_event(
            text,
            provider="Telnyx",
            accepted=ACCEPTED_EVENTS,
            stream_id=self.stream_id,
            id_keys=("stream_id",),
        )
        if isinstance(parsed, ServerMessage):
            return parsed
        message, name = parsed
        if name == "mark":
            return read_mark(name, message)
        if name == "clear":
            return ServerMessage(name, message, clear=True)
        audio, problems = self._audio.read(media_payload(message), "media.payload")
        if audio is not None:
            duration_s = self._outbound.duration_s(len(audio))
            if not MIN_CHUNK_S - 1e-9 <= duration_s <= MAX_CHUNK_S:
                problems += (
                    f"media chunk of {duration_s * 1000:.1f} ms ({len(audio)} bytes of "
                    f"{self._outbound.encoding}); Telnyx RTP mode takes 20 ms to 30 s",
                )
        return ServerMessage(name, message, audio=audio, violations=problems)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
