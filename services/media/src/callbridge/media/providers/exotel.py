"""Exotel voice streaming, bidirectional (Voicebot applet / AgentStream), reference §4.

In: ``connected``, ``start``, ``media`` (any size), ``dtmf``, ``mark``, ``stop``. Out: ``media``, ``mark``,
``clear``, each with ``stream_sid`` (§4.3). Exotel says field names vary by applet and path, so ``start`` is
read leniently (§4.2): numbers or strings, ``"8000"`` or ``"8000Hz"``, ``stream_sid`` at the top or inside
``start``, ``media_format`` optional.

Audio is 16-bit little-endian PCM at 8, 16 or 24 kHz (``?sample-rate=`` on the stream URL), both ways. One
of Exotel's guides says μ-law instead (§4.4 [CONFLICT]): an ``encoding`` that names μ-law is honoured.
The outbound rate is the call's ``medium.exotel.sample_rate`` (what the webhooks service put on the URL),
else the inbound one.

Outbound frame size. Exotel wants each chunk a multiple of 320 bytes, at most 100 KB, and at least
"3.2 KB (100 ms at 8 kHz)" (§4.3) - which contradicts itself: 100 ms of 16-bit audio at 8 kHz is 1600
bytes, and 3.2 KB at 8 kHz is 200 ms. Exotel's own bridge enforces 3200 bytes, so both readings are kept:
at least 3200 bytes and at least 100 ms. Then:

- 16 and 24 kHz: 100 ms (3200 and 4800 bytes) meets both, the 320-byte multiple too;
- 8 kHz: 100 ms is only 1600 bytes, so 200 ms (3200 bytes).

A longer frame delays the first audio of every agent turn (the session sends whole frames only) and
coarsens the marks that say what was heard, so 200 ms is used only where needed. The session and playout
read ``frame_ms`` before ``start``, so it is chosen from the call's medium: 100 ms when the medium fixes 16
or 24 kHz, else 200 ms, which meets every reading at every rate (3200/6400/9600 bytes). Barge-in is
unaffected: ``clear`` drops whatever Exotel holds, however it was chunked.

Exotel's behaviour on ``clear`` is undocumented (§6.4, §7.3): the Twilio behaviour (pending marks echoed)
is assumed; the playout's waits for marks time out if it is wrong.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.media.providers.base import (
    Codec,
    Connected,
    DtmfPressed,
    Ignored,
    Inbound,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    ProviderStream,
    Started,
    Stopped,
    StreamInfo,
    StreamOptions,
)
from callbridge.media.providers.payload import (
    BYTES_PER_SAMPLE,
    Decoder,
    Encoder,
    decoder,
    encoder,
    max_payload_chars,
    not_started,
)
from callbridge.media.providers.wire import (
    dtmf_digit,
    load_object,
    media_track,
    optional_text,
    payload_bytes,
    rate_hz,
    require_safe,
    section,
    text_field,
)
from callbridge.media.ratelimit import CallLog

RATES_HZ: Final = (8000, 16000, 24000)
DEFAULT_RATE_HZ: Final = 8000  # without ?sample-rate= (§4.1)
CHUNK_ALIGN_BYTES: Final = 320  # 20 ms of 16-bit audio at 8 kHz
MIN_CHUNK_BYTES: Final = 3200
MIN_CHUNK_MS: Final = 100
MAX_CHUNK_BYTES: Final = 100 * 1024
SHORT_FRAME_MS: Final = 100  # 3200 bytes at 16 kHz, 4800 at 24 kHz
LONG_FRAME_MS: Final = 200  # 3200 bytes at 8 kHz; 6400 and 9600 at 16 and 24 kHz

_MULAW_NAMES = ("mulaw", "ulaw", "pcmu")
_ALAW_NAMES = ("alaw", "pcma")


class ExotelMediaStream(ProviderStream):
    provider: ClassVar[Provider] = Provider.EXOTEL
    # Exotel documents 20 ms and 100 ms inbound chunks and says "any size" (§4.2): five of its largest
    # documented chunks leaves room for whatever size it means, and half a second is still a bounded delay.
    max_media_ms: ClassVar[int] = 500

    def __init__(self, call: Call, options: StreamOptions, log: CallLog | None = None) -> None:
        super().__init__(call, options, log)
        medium = call.medium.exotel if call.medium is not None else None
        self._medium_rate_hz = medium.sample_rate if medium is not None else None
        self.frame_ms = SHORT_FRAME_MS if self._medium_rate_hz in (16000, 24000) else LONG_FRAME_MS
        self._info: StreamInfo | None = None
        self._decode: Decoder | None = None
        self._encode: Encoder = not_started
        self._media_prefix = ""
        self._mark_prefix = ""
        self._clear = ""
        self._max_payload_chars = 0

    @property
    def info(self) -> StreamInfo | None:
        return self._info

    def _parse(self, message: str | bytes) -> Inbound:
        data = load_object(message)
        event = data.get("event")
        # Ordered by frequency: media and mark echoes arrive every 20-200 ms, the rest a handful per call.
        if event == "media":
            return self._media(data)
        if event == "mark":
            return MarkPlayed(text_field(section(data, "mark"), "name"))
        if event == "dtmf":
            return DtmfPressed(dtmf_digit(data))
        if event == "start":
            return Started(self._start(data))
        if event == "connected":
            return Connected()
        if event == "stop":
            return Stopped()
        raise ProtocolError(f"unknown event {event!r}")

    def _media(self, data: dict[str, Any]) -> MediaReceived | Ignored:
        decode = self._decode
        if decode is None:
            raise ProtocolError("media before start")
        media = section(data, "media")
        track = media_track(media, None)
        if track is not None and track.startswith("outbound"):
            return Ignored(f"track {track}")
        return MediaReceived(decode(payload_bytes(media, self._max_payload_chars)))

    def _start(self, data: dict[str, Any]) -> StreamInfo:
        if self._info is not None:
            raise ProtocolError("second start message")
        start = section(data, "start")
        stream_id = optional_text(data, "stream_sid") or optional_text(start, "stream_sid")
        if stream_id is None:
            raise ProtocolError("start without a stream_sid")
        require_safe(stream_id, "stream_sid")
        call_id = optional_text(start, "call_sid")
        if call_id is None:
            raise ProtocolError("start without a call_sid")
        media_format = start.get("media_format") or {}
        if not isinstance(media_format, dict):
            raise ProtocolError("start.media_format is not an object")
        codec, rate = self._inbound_format(media_format)
        # μ-law is one format both ways (§4.4); the medium's rate chooses PCM16's ?sample-rate=.
        out_rate_hz = self._medium_rate_hz if codec is Codec.L16 and self._medium_rate_hz else rate
        self._info = StreamInfo(
            stream_id=stream_id,
            call_id=call_id,
            account_id=optional_text(start, "account_sid"),
            codec=codec,
            sample_rate_hz=rate,
            out_codec=codec,
            out_rate_hz=out_rate_hz,
            channels=1,
        )
        problem = chunk_problem(codec, out_rate_hz, self.frame_ms)
        if problem is not None:
            self.log.warning("Exotel outbound chunks %s", problem)
        self._decode = decoder(codec)  # PCM16 little-endian (§4.4)
        self._max_payload_chars = max_payload_chars(codec, rate, self.max_media_ms)
        self._encode = encoder(codec)
        self._media_prefix = f'{{"event":"media","stream_sid":"{stream_id}","media":{{"payload":"'
        self._mark_prefix = f'{{"event":"mark","stream_sid":"{stream_id}","mark":{{"name":"'
        self._clear = f'{{"event":"clear","stream_sid":"{stream_id}"}}'
        return self._info

    def _inbound_format(self, media_format: dict[str, Any]) -> tuple[Codec, int]:
        """Codec and rate from ``media_format``; seen: ``base64``, ``slin``, ``linear16`` (§4.2) and
        ``audio/x-mulaw;rate=8000`` (§4.4). Without a rate, the one callbridge asked for, else 8 kHz."""
        encoding = media_format.get("encoding")
        name, _, parameter = (encoding.lower() if isinstance(encoding, str) else "").partition(";")
        codec = Codec.L16
        if any(alias in name for alias in _MULAW_NAMES):
            codec = Codec.PCMU
        elif any(alias in name for alias in _ALAW_NAMES):
            codec = Codec.PCMA
        rate = rate_hz(media_format.get("sample_rate"))
        if rate is None and parameter.strip().startswith("rate="):
            rate = rate_hz(parameter.strip().removeprefix("rate="))
        rate = rate or self._medium_rate_hz or DEFAULT_RATE_HZ
        if rate not in RATES_HZ:
            raise ProtocolError(f"unsupported Exotel sample rate {rate} Hz (8000, 16000 or 24000)")
        return codec, rate

    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        return self._media_prefix + base64.b64encode(self._encode(pcm)).decode() + '"}}'

    def mark_message(self, name: str) -> str:
        return self._mark_prefix + require_safe(name, "mark name") + '"}}'

    def clear_message(self) -> str:
        return self._clear


def chunk_problem(codec: Codec, rate_hz: int, frame_ms: int) -> str | None:
    """How a frame of ``frame_ms`` breaks Exotel's chunk rules (§4.3), or None when it meets them.

    The 320-byte and 3.2 KB rules are stated for 16-bit PCM; for μ-law only the multiple of 320 and the
    100 ms minimum are checked [INFERRED].
    """
    size = rate_hz * frame_ms // 1000 * BYTES_PER_SAMPLE[codec]
    if size % CHUNK_ALIGN_BYTES:
        return f"of {size} bytes are not a multiple of {CHUNK_ALIGN_BYTES}"
    if frame_ms < MIN_CHUNK_MS or (codec is Codec.L16 and size < MIN_CHUNK_BYTES):
        return f"of {size} bytes ({frame_ms} ms) are below the minimum"
    if size > MAX_CHUNK_BYTES:
        return f"of {size} bytes are above the maximum"
    return None
