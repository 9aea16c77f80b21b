"""Plivo's side of a bidirectional `<Stream>` for the lean load client (reference §3.2, §3.3, §3.4).

Sends `start` first (no `connected`), then `media`, with a numeric `sequenceNumber`; L16 16 kHz
little-endian, as `<Stream contentType="audio/x-l16;rate=16000">` asks. Accepts `playAudio` (which must
name that contentType and rate: another would play at the wrong speed, §3.6), `checkpoint` (answered with
`playedStream` only once the audio before it has played, §3.2) and `clearAudio` (answered with
`clearedAudio`; the pending checkpoints are dropped unanswered, §3.6). `streamId` is optional on what the
server sends (§3.3) but must be ours when present. Hang-up is the Java SDK's `stop` (§3.2).
"""

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation
else:
    from _calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation

CONTENT_TYPE = "audio/x-l16"


class PlivoWire(Wire):
    provider: ClassVar[str] = "plivo"
    codec: ClassVar[AudioCodec] = AudioCodec("L16", 16000, "little")
    medium: ClassVar[dict[str, Any]] = {"plivo": {"codec": "L16", "sampleRate": 16000}}
    answers_cleared_marks: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.stream_id = str(uuid.uuid4())
        self._call_id = str(uuid.uuid4())
        sid = self.stream_id.encode()
        # §3.2 (SDK types): `chunk` an integer, `timestamp` a string.
        self._media = (
            b'{"event":"media","sequenceNumber":%d,"streamId":"' + sid + b'","media":{"track":"inbound",'
            b'"timestamp":"%d","chunk":%d,"payload":"%b"}}'
        )
        self._played = b'{"event":"playedStream","sequenceNumber":%d,"streamId":"' + sid + b'","name":%b}'
        self._cleared = b'{"sequenceNumber":%d,"event":"clearedAudio","streamId":"' + sid + b'"}'

    def opening(self) -> list[bytes]:
        start = {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "callId": self._call_id,
                "streamId": self.stream_id,
                "accountId": "MAXXXXXXXXXXXXXXXXXX",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": CONTENT_TYPE, "sampleRate": self.codec.sample_rate_hz},
            },
        }
        return [orjson.dumps(start)]

    def media(self, index: int, payload: bytes) -> bytes:
        return self._media % (self._next(), index * FRAME_MS, index + 1, payload)

    def mark_played(self, name: str) -> bytes:
        return self._played % (self._next(), orjson.dumps(name))

    def clear_answer(self) -> bytes:
        return self._cleared % self._next()

    def stop(self) -> bytes:
        # §3.2: the Java SDK's StopEvent; Plivo's docs do not list `stop`, media takes it or a close.
        stop = {
            "event": "stop",
            "sequenceNumber": self._next(),
            "streamId": self.stream_id,
            "reason": "hangup",
        }
        return orjson.dumps(stop)

    def read(self, message: dict[str, Any]) -> Heard:
        stream_id = message.get("streamId")
        if stream_id is not None and stream_id != self.stream_id:
            return violation(f"streamId {str(stream_id)[:40]!r} is not this stream's")
        event = message.get("event")
        if event == "playAudio":
            media = message.get("media")
            if not isinstance(media, dict):
                return violation("playAudio without a media object")
            heard = self.audio(payload_of(media))
            content_type, rate_hz = media.get("contentType"), media.get("sampleRate")
            if content_type != CONTENT_TYPE or rate_hz != self.codec.sample_rate_hz:
                # Plivo plays it all the same, at the wrong speed or as noise.
                return Heard(
                    heard.audio,
                    violation=f"playAudio of {content_type!r} at {rate_hz!r} Hz on a stream of "
                    f"{CONTENT_TYPE} at {self.codec.sample_rate_hz} Hz (§3.3, §3.6)",
                )
            return heard
        if event == "checkpoint":
            name = name_of(message)
            return Heard(mark=name) if name is not None else violation("checkpoint without a string name")
        if event == "clearAudio":
            return CLEAR
        return violation(f"unknown event {event!r}; Plivo accepts playAudio, checkpoint, clearAudio")
