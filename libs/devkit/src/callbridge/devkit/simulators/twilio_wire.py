"""Twilio Media Streams wire format, from Twilio's side: the messages it sends and how it reads the server's.

Reference: /work/shared/reference/provider-protocols.md §1.2 (Twilio SENDS) and §1.3 (Twilio ACCEPTS), from
twilio.com/docs/voice/media-streams/websocket-messages. Key order follows the documented examples.
"""

from __future__ import annotations

from typing import Any

from callbridge.devkit.simulators.audio_codec import PCMU_8K
from callbridge.devkit.simulators.wire import (
    ServerMessage,
    decode_audio,
    media_payload,
    read_event,
    read_mark,
)

__all__ = [
    "ACCEPTED_EVENTS",
    "DTMF_DIGITS",
    "FRAME_S",
    "FRAME_SAMPLES",
    "SAMPLE_RATE_HZ",
    "TwilioWire",
    "read_server_message",
]

SAMPLE_RATE_HZ = 8000  # always audio/x-mulaw, 8000 Hz, mono (§1.2 `start.mediaFormat`)
FRAME_SAMPLES = 160  # 20 ms at 8 kHz, one μ-law byte per sample; the frame size observed in practice (§1.2)
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
DTMF_DIGITS = frozenset("0123456789*#")
ACCEPTED_EVENTS = frozenset({"media", "mark", "clear"})  # §1.3: all Twilio accepts on <Connect><Stream>


class TwilioWire:
    """Twilio's messages for one stream; `sequenceNumber` is one string counter over the stream (§1.2)."""

    provider = "twilio"
    audio_event = "media"

    def __init__(
        self, *, account_sid: str, call_sid: str, stream_sid: str, custom_parameters: dict[str, str]
    ) -> None:
        self.call_id = call_sid
        self.stream_id = stream_sid
        self._account_sid = account_sid
        self._custom_parameters = custom_parameters
        self._sequence = 0

    def opening(self) -> list[dict[str, Any]]:
        # `connected` is the first message, and the only one without a sequenceNumber.
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "accountSid": self._account_sid,
                "streamSid": self.stream_id,
                "callSid": self.call_id,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE_HZ, "channels": 1},
                "customParameters": self._custom_parameters,
            },
            "streamSid": self.stream_id,
        }
        return [connected, start]

    def media(self, chunk: int, payload: str) -> dict[str, Any]:
        # `chunk` counts from 1; `timestamp` is the presentation time in ms from stream start, so chunk n of
        # 20 ms frames starts at (n-1)·20 ms.
        return {
            "event": "media",
            "sequenceNumber": self._next(),
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str((chunk - 1) * 20),
                "payload": payload,
            },
            "streamSid": self.stream_id,
        }

    def dtmf(self, digit: str) -> dict[str, Any]:
        # Bidirectional streams only; the track is always `inbound_track`.
        return {
            "event": "dtmf",
            "streamSid": self.stream_id,
            "sequenceNumber": self._next(),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }

    def mark_echo(self, name: str, *, cleared: bool) -> dict[str, Any]:
        # §1.3: the same echo whether the audio played or a `clear` emptied the buffer.
        return {
            "event": "mark",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_id,
            "mark": {"name": name},
        }

    def clear_ack(self) -> None:
        return None  # Twilio answers `clear` only with the mark echoes

    def stop(self) -> dict[str, Any]:
        return {
            "event": "stop",
            "sequenceNumber": self._next(),
            "stop": {"accountSid": self._account_sid, "callSid": self.call_id},
            "streamSid": self.stream_id,
        }

    def read(self, raw: str | bytes) -> ServerMessage:
        return read_server_message(raw, self.stream_id)

    def _next(self) -> str:
        self._sequence += 1
        return str(self._sequence)


def read_server_message(raw: str | bytes, stream_sid: str) -> ServerMessage:
    """Parse and check one WebSocket message against §1.3 (streamSid is required)."""
    parsed = read_event(
        raw,
        provider="Twilio",
        accepted=ACCEPTED_EVENTS,
        stream_id=stream_sid,
        id_keys=("streamSid",),
        id_required=True,
    )
    if isinstance(parsed, ServerMessage):
        return parsed
    message, name = parsed
    if name == "media":
        ulaw, problems = decode_audio(media_payload(message), PCMU_8K, "media.payload")
        if ulaw is not None and ulaw.startswith(b"RIFF"):
            # §1.3: raw μ-law, no file header; Twilio plays the header bytes as audio, so this still plays.
            problems.append("media.payload starts with a RIFF (WAV) header")
        return ServerMessage(name, message, audio=ulaw, violations=tuple(problems))
    if name == "mark":
        return read_mark(name, message)
    return ServerMessage(name, message, clear=True)
