"""Telnyx's side of a bidirectional RTP-mode media stream for the lean load client (reference §2.2, §2.3).

Sends `connected`, `start` (snake_case, `stream_id` top-level, `media_format` L16 16 kHz), `media` and mark
echoes with a string `sequence_number` on one counter, `stop`. Media reorders frames by that counter, so
every message after `connected` takes the next number, in the order it is written.

Accepts `media`, `mark` and `clear`; `stream_id` is optional on them (§2.3) but must be ours when present.
Audio back is L16 16 kHz (the medium's `bidirectionalCodec`) in chunks of 20 ms to 30 s (§2.3). L16 byte
order is undocumented (§2.5): the caller sends RFC 3551's big-endian, media's default
(CALLBRIDGE_TELNYX_L16_BYTE_ORDER), and checks that the echo comes back the same way.
"""

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation
else:
    from _calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation

MAX_CHUNK_S = 30.0  # §2.3: "Chunks of audio can be 20 milliseconds to 30 seconds"


class TelnyxWire(Wire):
    provider: ClassVar[str] = "telnyx"
    codec: ClassVar[AudioCodec] = AudioCodec("L16", 16000, "big")
    medium: ClassVar[dict[str, Any]] = {"telnyx": {"codec": "L16", "sampleRate": 16000}}

    def __init__(self) -> None:
        super().__init__()
        self.stream_id = str(uuid.uuid4()).upper()  # shaped like §2.2's examples
        self._call_control_id = "v3:" + uuid.uuid4().hex
        self._user_id = str(uuid.uuid4()).upper()
        sid = self.stream_id.encode()
        self._media = (
            b'{"event":"media","sequence_number":"%d","media":{"track":"inbound","chunk":"%d",'
            b'"timestamp":"%d","payload":"%b"},"stream_id":"' + sid + b'"}'
        )
        self._mark = b'{"event":"mark","stream_id":"' + sid + b'","sequence_number":"%d","mark":{"name":%b}}'
        self._min_chunk_bytes = self.frame_samples * self.codec.bytes_per_sample
        self._max_chunk_bytes = self.codec.samples(MAX_CHUNK_S) * self.codec.bytes_per_sample

    def opening(self) -> list[bytes]:
        start = {
            "event": "start",
            "sequence_number": str(self._next()),
            "start": {
                "user_id": self._user_id,
                "call_control_id": self._call_control_id,
                "call_session_id": str(uuid.uuid4()),
                "from": "+13122010094",
                "to": "+13122123456",
                "media_format": {"encoding": "L16", "sample_rate": self.codec.sample_rate_hz, "channels": 1},
            },
            "stream_id": self.stream_id,
        }
        return [orjson.dumps({"event": "connected", "version": "1.0.0"}), orjson.dumps(start)]

    def media(self, index: int, payload: bytes) -> bytes:
        return self._media % (self._next(), index + 1, index * FRAME_MS, payload)

    def mark_played(self, name: str) -> bytes:
        return self._mark % (self._next(), orjson.dumps(name))

    def stop(self) -> bytes:
        stop = {
            "event": "stop",
            "sequence_number": str(self._next()),
            "stop": {"user_id": self._user_id, "call_control_id": self._call_control_id},
            "stream_id": self.stream_id,
        }
        return orjson.dumps(stop)

    def read(self, message: dict[str, Any]) -> Heard:
        stream_id = message.get("stream_id")
        if stream_id is not None and stream_id != self.stream_id:
            return violation(f"stream_id {str(stream_id)[:40]!r} is not this stream's")
        event = message.get("event")
        if event == "media":
            heard = self.audio(payload_of(message.get("media")))
            size = len(heard.audio)
            if heard.audio and not self._min_chunk_bytes <= size <= self._max_chunk_bytes:
                problem = f"media chunk of {size} bytes; RTP mode takes 20 ms to 30 s (§2.3)"
                return Heard(heard.audio, violation=problem)
            return heard
        if event == "mark":
            name = name_of(message.get("mark"))
            return Heard(mark=name) if name is not None else violation("mark without a string mark.name")
        if event == "clear":
            return CLEAR
        return violation(f"unknown event {event!r}; Telnyx accepts media, mark, clear")
