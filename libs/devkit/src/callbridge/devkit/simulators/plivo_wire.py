"""Plivo AudioStream wire format (bidirectional), from Plivo's side.

Reference: /work/shared/reference/provider-protocols.md §3.2 (Plivo SENDS), §3.3 (Plivo ACCEPTS), §3.4 (L16
is little-endian) and §3.6 (pitfalls), from plivo.com/docs/voice/audio-streaming and the official stream
SDKs. The differences from Twilio the simulator reproduces: no `connected` (`start` comes first), a numeric
`sequenceNumber`, `playAudio` carrying its own contentType/sampleRate, `checkpoint` answered by
`playedStream` only once its audio has played, and `clearAudio` answered by `clearedAudio` while the pending
checkpoints are dropped unanswered.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.plivo_xml import PlivoEncoding
from callbridge.devkit.simulators.wire import (
    AudioReader,
    ServerMessage,
    json_slot,
    message_template,
    number_slot,
    number_text_slot,
    read_event,
    text_slot,
)

__all__ = ["ACCEPTED_EVENTS", "PlayedEvent", "PlivoWire", "new_stream_id"]

ACCEPTED_EVENTS = frozenset({"playAudio", "checkpoint", "clearAudio"})  # §3.3 (sendDTMF: not Plivo's own)
PlayedEvent = Literal["playedStream", "played"]
"""§3.2 [CONFLICT]: the docs and both SDKs say `playedStream`; Plivo's support FAQ says `played`."""


def new_stream_id() -> str:
    return str(uuid.uuid4())


class PlivoWire:
    """Plivo's messages for one stream; `sequenceNumber` is a number counting from `start` = 1 (§3.2)."""

    provider = "plivo"
    audio_event = "playAudio"

    def __init__(
        self,
        *,
        call_uuid: str,
        stream_id: str,
        account_id: str,
        encoding: PlivoEncoding,
        codec: AudioCodec,
        frame_ms: int,
        extra_headers: str | None,
        played_event: PlayedEvent,
        stop_reason: str | None,
    ) -> None:
        self.call_id = call_uuid
        self.stream_id = stream_id
        self._account_id = account_id
        self._encoding = encoding
        self._codec = codec
        self._frame_ms = frame_ms
        self._extra_headers = extra_headers
        self._stop_reason = stop_reason
        self._sequence = 0
        self._stream_ms = 0
        """Stream time of the next inbound frame, for `dtmf.timestamp`."""
        self._audio = AudioReader(codec)  # `contentType` sets both directions (§3.1, §3.3)
        # §3.2 (SDK types): `chunk` an integer, `timestamp` a string; its unit is undocumented, the simulator
        # counts ms from the stream start [INFERRED].
        media = {
            "event": "media",
            "sequenceNumber": number_slot("sequence"),
            "streamId": stream_id,
            "media": {
                "track": "inbound",
                "timestamp": number_text_slot("timestamp"),
                "chunk": number_slot("chunk"),
                "payload": text_slot("payload"),
            },
        }
        self._media = message_template(
            self._with_extra_headers(media), ("sequence", "timestamp", "chunk", "payload")
        )
        played = {
            "event": played_event,
            "sequenceNumber": number_slot("sequence"),
            "streamId": stream_id,
            "name": json_slot("name"),
        }
        self._played = message_template(played, ("sequence", "name"))
        # Key order of §3.2's example; its sequenceNumber is 0 there, the simulator keeps counting.
        cleared = {"sequenceNumber": number_slot("sequence"), "event": "clearedAudio", "streamId": stream_id}
        self._cleared = message_template(cleared, ("sequence",))

    def opening(self) -> list[bytes]:
        # §3.2: no `connected`; `start` is the first message.
        start: dict[str, Any] = {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "callId": self.call_id,
                "streamId": self.stream_id,
                "accountId": self._account_id,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": self._encoding, "sampleRate": self._codec.sample_rate_hz},
            },
        }
        return [orjson.dumps(self._with_extra_headers(start))]

    def media(self, chunk: int, payload: bytes) -> bytes:
        timestamp_ms = (chunk - 1) * self._frame_ms
        self._stream_ms = timestamp_ms + self._frame_ms
        return self._media % (self._next(), timestamp_ms, chunk, payload)

    def dtmf(self, digit: str) -> bytes:
        message = {
            "event": "dtmf",
            "sequenceNumber": self._next(),
            "streamId": self.stream_id,
            "dtmf": {"track": "inbound", "digit": digit, "timestamp": str(self._stream_ms)},
        }
        return orjson.dumps(message)

    def mark_echo(self, name: str, *, cleared: bool) -> bytes | None:
        if cleared:
            # §3.6 [INFERRED]: `playedStream` fires only on successful playback, so a checkpoint a
            # `clearAudio` dropped is never answered; the server must resolve it on `clearedAudio`.
            return None
        return self._played % (self._next(), orjson.dumps(name))

    def clear_ack(self) -> bytes:
        return self._cleared % self._next()

    def stop(self) -> bytes | None:
        # §3.2: not in Plivo's docs, handled by its Java SDK; None when configured to just close.
        if self._stop_reason is None:
            return None
        stop = {
            "event": "stop",
            "sequenceNumber": self._next(),
            "streamId": self.stream_id,
            "reason": self._stop_reason,
        }
        return orjson.dumps(stop)

    def read(self, text: str | bytes) -> ServerMessage:
        """Parse and check one server message against §3.3."""
        # §3.3: streamId is optional (the docs omit it, the Java SDK and pipecat send it).
        parsed = read_event(
            text, provider="Plivo", accepted=ACCEPTED_EVENTS, stream_id=self.stream_id, id_keys=("streamId",)
        )
        if isinstance(parsed, ServerMessage):
            return parsed
        message, name = parsed
        if name == "playAudio":
            return self._read_play_audio(message)
        if name == "checkpoint":
            checkpoint = message.get("name")
            if not isinstance(checkpoint, str):
                return ServerMessage(name, message, violations=("checkpoint without a string name",))
            return ServerMessage(name, message, mark_name=checkpoint)
        return ServerMessage(name, message, clear=True)

    def _read_play_audio(self, message: dict[str, Any]) -> ServerMessage:
        media = message.get("media")
        if not isinstance(media, dict):
            return ServerMessage("playAudio", message, violations=("playAudio without a media object",))
        content_type, rate_hz = media.get("contentType"), media.get("sampleRate")
        if not isinstance(content_type, str) or not isinstance(rate_hz, int) or isinstance(rate_hz, bool):
            reason = "playAudio needs media.contentType (string) and media.sampleRate (number)"
            return ServerMessage("playAudio", message, violations=(reason,))
        audio, problems = self._audio.read(media.get("payload"), "media.payload")
        if (content_type, rate_hz) != (self._encoding, self._codec.sample_rate_hz):
            # Plays anyway, as bytes of the stream's format: at the wrong speed or as noise (§3.6).
            problems += (
                f"playAudio is {content_type} at {rate_hz} Hz on a stream of {self._encoding} at "
                f"{self._codec.sample_rate_hz} Hz; Plivo would play it at the wrong speed",
            )
        return ServerMessage("playAudio", message, audio=audio, violations=problems)

    def _with_extra_headers(self, message: dict[str, Any]) -> dict[str, Any]:
        # §3.2: the `<Stream extraHeaders>` come back top-level, snake_case, on start and media.
        if self._extra_headers is not None:
            message["extra_headers"] = self._extra_headers
        return message

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence
