"""Twilio Media Streams wire format, from Twilio's side: the messages it sends and how it reads the server's.

Reference: /work/shared/reference/provider-protocols.md §1.2 (Twilio SENDS) and §1.3 (Twilio ACCEPTS), from
twilio.com/docs/voice/media-streams/websocket-messages. Key order follows the documented examples.
"""

from __future__ import annotations

from typing import Any

import orjson

from callbridge.devkit.simulators.audio_codec import PCMU_8K
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

__all__ = [
    "ACCEPTED_EVENTS",
    "DTMF_DIGITS",
    "FRAME_S",
    "FRAME_SAMPLES",
    "SAMPLE_RATE_HZ",
    "TwilioWire",
]

SAMPLE_RATE_HZ = 8000  # always audio/x-mulaw, 8000 Hz, mono (§1.2 `start.mediaFormat`)
FRAME_SAMPLES = 160  # 20 ms at 8 kHz, one μ-law byte per sample; the frame size observed in practice (§1.2)
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
FRAME_MS = 20
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
        self._audio = AudioReader(PCMU_8K)
        # `chunk` counts from 1; `timestamp` is the presentation time in ms from stream start, so chunk n of
        # 20 ms frames starts at (n-1)·20 ms.
        media = {
            "event": "media",
            "sequenceNumber": number_text_slot("sequence"),
            "media": {
                "track": "inbound",
                "chunk": number_text_slot("chunk"),
                "timestamp": number_text_slot("timestamp"),
                "payload": text_slot("payload"),
            },
            "streamSid": stream_sid,
        }
        self._media = message_template(media, ("sequence", "chunk", "timestamp", "payload"))
        # §1.3: the same echo whether the audio played or a `clear` emptied the buffer.
        mark = {
            "event": "mark",
            "sequenceNumber": number_text_slot("sequence"),
            "streamSid": stream_sid,
            "mark": {"name": json_slot("name")},
        }
        self._mark = message_template(mark, ("sequence", "name"))

    def opening(self) -> list[bytes]:
        # `connected` is the first message, and the only one without a sequenceNumber.
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": str(self._next()),
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
        return [orjson.dumps(connected), orjson.dumps(start)]

    def media(self, chunk: int, payload: bytes) -> bytes:
        return self._media % (self._next(), chunk, (chunk - 1) * FRAME_MS, payload)

    def dtmf(self, digit: str) -> bytes:
        # Bidirectional streams only; the track is always `inbound_track`.
        message: dict[str, Any] = {
            "event": "dtmf",
            "streamSid": self.stream_id,
            "sequenceNumber": str(self._next()),
            "dtmf": {"track": "inbound_track", "digit": digit},
        }
        return orjson.dumps(message)

    def mark_echo(self, name: str, *, cleared: bool) -> bytes:
        return self._mark % (self._next(), orjson.dumps(name))

    def clear_ack(self) -> None:
        return None  # Twilio answers `clear` only with the mark echoes

    def stop(self) -> bytes:
        stop = {
            "event": "stop",
            "sequenceNumber": str(self._next()),
            "stop": {"accountSid": self._account_sid, "callSid": self.call_id},
            "streamSid": self.stream_id,
        }
        return orjson.dumps(stop)

    def read(self, text: str | bytes) -> ServerMessage:
        """Parse and check one server message against §1.3 (streamSid is required)."""
        parsed = read_event(
            text,
            provider="Twilio",
            accepted=ACCEPTED_EVENTS,
            stream_id=self.stream_id,
            id_keys=("streamSid",),
            id_required=True,
        )
        if isinstance(parsed, ServerMessage):
            return parsed
        message, name = parsed
        if name == "media":
            ulaw, problems = self._audio.read(media_payload(message), "media.payload")
            if ulaw is not None and ulaw.startswith(b"RIFF"):
                # §1.3: raw μ-law, no file header; Twilio plays the header bytes as audio: this still plays.
                problems += ("media.payload starts with a RIFF (WAV) header",)
            return ServerMessage(name, message, audio=ulaw, violations=problems)
        if name == "mark":
            return read_mark(name, message)
        return ServerMessage(name, message, clear=True)

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
