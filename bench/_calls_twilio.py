"""Twilio's side of a bidirectional `<Connect><Stream>` for the lean load client (reference §1.2, §1.3).

Sends `connected`, `start` (μ-law 8 kHz, the only format), `media` with a string `sequenceNumber` and the
stream's `streamSid`, mark echoes, `stop`. Accepts `media`, `mark` and `clear`, each carrying our streamSid.
"""

from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec
from callbridge.devkit.simulators.twilio import new_sid

if TYPE_CHECKING:  # see _calls_client.py
    from bench._calls_wire import CLEAR, Heard, Wire, name_of, payload_of, violation
else:
    from _calls_wire import CLEAR, Heard, Wire, name_of, payload_of, violation


class TwilioWire(Wire):
    provider: ClassVar[str] = "twilio"
    codec: ClassVar[AudioCodec] = PCMU_8K
    medium: ClassVar[dict[str, Any]] = {"twilio": {}}

    def __init__(self) -> None:
        super().__init__()
        self._account_sid, self._call_sid, self.stream_sid = new_sid("AC"), new_sid("CA"), new_sid("MZ")
        sid = self.stream_sid.encode()
        # Key order of §1.2's examples; every part but the counters and the payload is fixed per call.
        self._media = (
            b'{"event":"media","sequenceNumber":"%d","media":{"track":"inbound","chunk":"%d",'
            b'"timestamp":"%d","payload":"%b"},"streamSid":"' + sid + b'"}'
        )
        self._mark = b'{"event":"mark","sequenceNumber":"%d","streamSid":"' + sid + b'","mark":{"name":%b}}'

    def opening(self) -> list[bytes]:
        # §1.2: `connected` is the only message without a sequenceNumber; `start` is "1".
        start = {
            "event": "start",
            "sequenceNumber": str(self._next()),
            "start": {
                "accountSid": self._account_sid,
                "streamSid": self.stream_sid,
                "callSid": self._call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {},
            },
            "streamSid": self.stream_sid,
        }
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        return [orjson.dumps(connected), orjson.dumps(start)]

    def media(self, index: int, payload: bytes) -> bytes:
        return self._media % (self._next(), index + 1, index * 20, payload)

    def mark_played(self, name: str) -> bytes:
        return self._mark % (self._next(), orjson.dumps(name))

    def stop(self) -> bytes:
        stop = {
            "event": "stop",
            "sequenceNumber": str(self._next()),
            "stop": {"accountSid": self._account_sid, "callSid": self._call_sid},
            "streamSid": self.stream_sid,
        }
        return orjson.dumps(stop)

    def read(self, message: dict[str, Any]) -> Heard:
        if message.get("streamSid") != self.stream_sid:
            return violation("not an object with this stream's streamSid")
        event = message.get("event")
        if event == "media":
            return self.audio(payload_of(message.get("media")))
        if event == "mark":
            name = name_of(message.get("mark"))
            return Heard(mark=name) if name is not None else violation("mark without a string mark.name")
        if event == "clear":
            return CLEAR
        return violation(f"unknown event {event!r}; Twilio accepts media, mark, clear")
