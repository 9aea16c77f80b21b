"""Exotel Voicebot (AgentStream) wire format, from Exotel's side.

Reference: /work/shared/reference/provider-protocols.md §4.2 (Exotel SENDS), §4.3 (Exotel ACCEPTS, with the
chunk rules for the bot's audio) and §4.4 (16-bit little-endian PCM). Exotel says its field names "can vary
slightly by applet", so the simulator can put `stream_sid` at the top level, inside `start`, or both, and
write `sample_rate` as "16000" or "16000Hz": a server that reads only one form fails here as it would live.
"""

from __future__ import annotations

from typing import Any, Literal

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

__all__ = [
    "ACCEPTED_EVENTS",
    "ExotelWire",
    "MinChunkRule",
    "SampleRateFormat",
    "StreamSidPlacement",
    "chunk_rule_violations",
    "min_chunk_bytes",
]

ACCEPTED_EVENTS = frozenset({"media", "mark", "clear"})  # §4.3
# §4.3 chunk rules for bot -> Exotel audio: a multiple of 320 bytes, at most 100 KB, and at least
# "3.2 KB (100 ms at 8 kHz)", which contradicts itself: 3.2 KB of 16-bit PCM at 8 kHz is 200 ms.
CHUNK_ALIGNMENT_BYTES = 320
MIN_CHUNK_BYTES = 3200
MIN_CHUNK_S = 0.100
MAX_CHUNK_BYTES = 100 * 1024
DTMF_DURATION_MS = "200"  # §4.2's example; Exotel reports it as a string

StreamSidPlacement = Literal["both", "top", "start"]
SampleRateFormat = Literal["plain", "hz"]
MinChunkRule = Literal["documented", "scaled"]
"""How to read §4.3's minimum. ``documented``: both halves, at least 3200 bytes (Exotel's own bridge's flat
MIN) and at least 100 ms: 3200, 3200, 4800 bytes at 8, 16, 24 kHz. ``scaled``: 3.2 KB at 8 kHz scaled with
the rate, the reference's [INFERRED] reading: 3200, 6400, 9600 bytes."""


def min_chunk_bytes(sample_rate_hz: int, rule: MinChunkRule) -> int:
    """The smallest chunk of 16-bit audio Exotel takes at ``sample_rate_hz`` under ``rule``."""
    if rule == "scaled":
        return MIN_CHUNK_BYTES * sample_rate_hz // 8000
    return max(MIN_CHUNK_BYTES, round(MIN_CHUNK_S * sample_rate_hz) * 2)


def chunk_rule_violations(
    size_bytes: int, sample_rate_hz: int, rule: MinChunkRule = "documented"
) -> list[str]:
    """What is wrong with a ``size_bytes`` chunk of 16-bit audio at ``sample_rate_hz`` by §4.3's rules."""
    problems: list[str] = []
    if size_bytes % CHUNK_ALIGNMENT_BYTES:
        # "the last packet will be of lesser size than 320 Bytes, & platform will wait for 20ms": a gap.
        problems.append(
            f"media chunk of {size_bytes} bytes is not a multiple of 320; Exotel would leave an audible gap"
        )
    min_bytes = min_chunk_bytes(sample_rate_hz, rule)
    if size_bytes < min_bytes:
        problems.append(
            f"media chunk of {size_bytes} bytes is under Exotel's minimum "
            f"({min_bytes} bytes at {sample_rate_hz} Hz)"
        )
    if size_bytes > MAX_CHUNK_BYTES:
        problems.append(f"media chunk of {size_bytes} bytes is over Exotel's 100 KB maximum")
    return problems


class ExotelWire:
    """Exotel's messages for one stream; `sequence_number` is one string counter from `start` on (§4.2)."""

    provider = "exotel"
    audio_event = "media"

    def __init__(
        self,
        *,
        call_sid: str,
        stream_sid: str,
        account_sid: str,
        from_number: str,
        to_number: str,
        custom_parameters: dict[str, str],
        codec: AudioCodec,
        frame_ms: int,
        stream_sid_placement: StreamSidPlacement,
        sample_rate_format: SampleRateFormat,
        echo_marks_on_clear: bool,
        min_chunk_rule: MinChunkRule,
    ) -> None:
        self.call_id = call_sid
        self.stream_id = stream_sid
        self._account_sid = account_sid
        self._from_number = from_number
        self._to_number = to_number
        self._custom_parameters = custom_parameters
        self._codec = codec
        self._frame_ms = frame_ms
        self._placement = stream_sid_placement
        self._sample_rate_format = sample_rate_format
        self._echo_marks_on_clear = echo_marks_on_clear
        self._min_chunk_rule = min_chunk_rule
        self._sequence = 0
        self._audio = AudioReader(codec)  # §4.4: 16-bit little-endian PCM at the stream's rate, both ways
        # `timestamp` is undocumented beyond the example; the simulator counts ms from the stream start.
        media = {
            "media": {
                "chunk": number_text_slot("chunk"),
                "timestamp": number_text_slot("timestamp"),
                "payload": text_slot("payload"),
            }
        }
        self._media = message_template(
            self._message("media", number_text_slot("sequence"), media),
            ("sequence", "chunk", "timestamp", "payload"),
        )
        mark = self._message("mark", number_text_slot("sequence"), {"mark": {"name": json_slot("name")}})
        self._mark = message_template(mark, ("sequence", "name"))

    def opening(self) -> list[bytes]:
        rate_hz = self._codec.sample_rate_hz
        start: dict[str, Any] = {
            "call_sid": self.call_id,
            "account_sid": self._account_sid,
            "from": self._from_number,
            "to": self._to_number,
            "custom_parameters": self._custom_parameters,
            "media_format": {
                "encoding": "base64",
                "sample_rate": f"{rate_hz}Hz" if self._sample_rate_format == "hz" else str(rate_hz),
                "bit_rate": f"{rate_hz * 16 // 1000}kbps",  # 16-bit mono: 128kbps at 8 kHz, as in §4.2
            },
        }
        if self._placement != "top":
            start = {"stream_sid": self.stream_id, **start}
        connected = {"event": "connected", "protocol": "Exotel Media Stream", "version": "1.0.0"}
        return [orjson.dumps(connected), self._dumps("start", {"start": start})]

    def media(self, chunk: int, payload: bytes) -> bytes:
        return self._media % (self._next(), chunk, (chunk - 1) * self._frame_ms, payload)

    def dtmf(self, digit: str) -> bytes:
        return self._dumps("dtmf", {"dtmf": {"digit": digit, "duration": DTMF_DURATION_MS}})

    def mark_echo(self, name: str, *, cleared: bool) -> bytes | None:
        # §6.4: Exotel echoes a mark when its audio has played; what `clear` does to pending marks is
        # undocumented (§7.3). By default it echoes them like Twilio; else they are dropped unanswered.
        if cleared and not self._echo_marks_on_clear:
            return None
        return self._mark % (self._next(), orjson.dumps(name))

    def clear_ack(self) -> None:
        return None

    def stop(self) -> bytes:
        stop = {"call_sid": self.call_id, "account_sid": self._account_sid, "reason": "callended"}
        return self._dumps("stop", {"stop": stop})

    def read(self, text: str | bytes) -> ServerMessage:
        """Parse and check one server message against §4.3."""
        # §4.3: Exotel takes `stream_sid`, `streamSid` or neither [INFERRED]; a wrong one is a server bug.
        parsed = read_event(
            text,
            provider="Exotel",
            accepted=ACCEPTED_EVENTS,
            stream_id=self.stream_id,
            id_keys=("stream_sid", "streamSid"),
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
            rate_hz = self._codec.sample_rate_hz
            problems += tuple(chunk_rule_violations(len(audio), rate_hz, self._min_chunk_rule))
        return ServerMessage(name, message, audio=audio, violations=problems)

    def _dumps(self, event: str, body: dict[str, Any]) -> bytes:
        return orjson.dumps(self._message(event, str(self._next()), body))

    def _message(self, event: str, sequence: str, body: dict[str, Any]) -> dict[str, Any]:
        # Key order of §4.2's examples: event, sequence_number, stream_sid, then the body.
        message: dict[str, Any] = {"event": event, "sequence_number": sequence}
        if self._placement != "start":
            message["stream_sid"] = self.stream_id
        message.update(body)
        return message

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
