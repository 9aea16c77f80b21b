"""Exotel's side of a bidirectional Voicebot stream for the lean load client (reference §4.2, §4.3, §4.4).

Sends `connected`, `start` (snake_case, `stream_sid` at the top and in `start`, `media_format` with the
rate as a string, as §4.2's example), `media` and mark echoes with a string `sequence_number`, `stop`.
Audio is 16-bit little-endian PCM at 16 kHz both ways (``?sample-rate=16000``, the medium's rate).

Accepts `media`, `mark` and `clear`. The server's chunks must follow §4.3: a multiple of 320 bytes, at most
100 KB, and at least 3.2 KB and 100 ms (media reads the contradictory minimum both ways, see its
providers/exotel.py; so does this check). `stream_sid` must be ours when present (§4.3 says send it).
"""

import secrets
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.media.providers.exotel import SHORT_FRAME_MS

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation
else:
    from _calls_wire import CLEAR, FRAME_MS, Heard, Wire, name_of, payload_of, violation

CHUNK_ALIGN_BYTES = 320
MIN_CHUNK_BYTES = 3200
MIN_CHUNK_S = 0.1
MAX_CHUNK_BYTES = 100 * 1024


class ExotelWire(Wire):
    provider: ClassVar[str] = "exotel"
    codec: ClassVar[AudioCodec] = AudioCodec("L16", 16000, "little")
    medium: ClassVar[dict[str, Any]] = {"exotel": {"sampleRate": 16000}}
    # Media echoes at 16 kHz in chunks of SHORT_FRAME_MS (its providers/exotel.py): whole chunks only.
    echo_chunk_frames: ClassVar[int] = SHORT_FRAME_MS // FRAME_MS

    def __init__(self) -> None:
        super().__init__()
        self.stream_sid, self._call_sid = secrets.token_hex(16), secrets.token_hex(16)
        self._account_sid = "exotel_bench"
        sid = self.stream_sid.encode()
        self._media = (
            b'{"event":"media","sequence_number":"%d","stream_sid":"' + sid + b'","media":{"chunk":"%d",'
            b'"timestamp":"%d","payload":"%b"}}'
        )
        self._mark = b'{"event":"mark","sequence_number":"%d","stream_sid":"' + sid + b'","mark":{"name":%b}}'
        self._min_chunk_bytes = max(MIN_CHUNK_BYTES, self.codec.samples(MIN_CHUNK_S) * 2)

    def opening(self) -> list[bytes]:
        rate_hz = self.codec.sample_rate_hz
        start = {
            "event": "start",
            "sequence_number": str(self._next()),
            "stream_sid": self.stream_sid,
            "start": {
                "stream_sid": self.stream_sid,
                "call_sid": self._call_sid,
                "account_sid": self._account_sid,
                "from": "09845011223",
                "to": "08012345678",
                "custom_parameters": {},
                "media_format": {
                    "encoding": "base64",
                    "sample_rate": str(rate_hz),
                    "bit_rate": f"{rate_hz * 16 // 1000}kbps",
                },
            },
        }
        connected = {"event": "connected", "protocol": "Exotel Media Stream", "version": "1.0.0"}
        return [orjson.dumps(connected), orjson.dumps(start)]

    def media(self, index: int, payload: bytes) -> bytes:
        return self._media % (self._next(), index + 1, index * FRAME_MS, payload)

    def mark_played(self, name: str) -> bytes:
        return self._mark % (self._next(), orjson.dumps(name))

    def stop(self) -> bytes:
        stop = {
            "event": "stop",
            "sequence_number": str(self._next()),
            "stream_sid": self.stream_sid,
            "stop": {"call_sid": self._call_sid, "account_sid": self._account_sid, "reason": "callended"},
        }
        return orjson.dumps(stop)

    def read(self, message: dict[str, Any]) -> Heard:
        stream_sid = message.get("stream_sid")
        if stream_sid is not None and stream_sid != self.stream_sid:
            return violation(f"stream_sid {str(stream_sid)[:40]!r} is not this stream's")
        event = message.get("event")
        if event == "media":
            heard = self.audio(payload_of(message.get("media")))
            size = len(heard.audio)
            if heard.audio and (
                size % CHUNK_ALIGN_BYTES or not self._min_chunk_bytes <= size <= MAX_CHUNK_BYTES
            ):
                return Heard(
                    heard.audio,
                    violation=f"media chunk of {size} bytes; Exotel takes multiples of "
                    f"{CHUNK_ALIGN_BYTES} from {self._min_chunk_bytes} bytes to 100 KB (§4.3)",
                )
            return heard
        if event == "mark":
            name = name_of(message.get("mark"))
            return Heard(mark=name) if name is not None else violation("mark without a string mark.name")
        if event == "clear":
            return CLEAR
        return violation(f"unknown event {event!r}; Exotel accepts media, mark, clear")
