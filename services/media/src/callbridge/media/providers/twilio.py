"""Twilio Media Streams, bidirectional (``<Connect><Stream>``), reference §1.

In: ``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop``. Out: ``media``, ``mark``, ``clear``.
Audio is μ-law at 8 kHz in practice, but the codec is read from ``start.mediaFormat``, never assumed.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

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
from callbridge.media.providers.payload import Decoder, Encoder, decoder, encoder, max_payload_chars
from callbridge.media.providers.wire import (
    dtmf_digit,
    load_object,
    media_track,
    optional_text,
    payload_bytes,
    require_safe,
    section,
    text_field,
)
from callbridge.media.ratelimit import CallLog

_ENCODINGS = {"audio/x-mulaw": Codec.PCMU, "audio/x-alaw": Codec.PCMA}


class TwilioMediaStream(ProviderStream):
    provider: ClassVar[Provider] = Provider.TWILIO
    # Twilio sends 20 ms frames (§1.2); five frames' worth is far beyond any it sends.
    max_media_ms: ClassVar[int] = 100

    def __init__(self, call: Call, options: StreamOptions, log: CallLog | None = None) -> None:
        super().__init__(call, options, log)
        self._info: StreamInfo | None = None
        self._decode: Decoder | None = None
        # Twilio plays only μ-law 8 kHz, whatever it sends (reference §1.3).
        self._encode: Encoder = encoder(Codec.PCMU)
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
        # Ordered by frequency: media is 50 messages a second, the rest a handful per call.
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
        track = media_track(media, "inbound")
        if track != "inbound":
            return Ignored(f"track {track}")
        return MediaReceived(decode(payload_bytes(media, self._max_payload_chars)))

    def _start(self, data: dict[str, Any]) -> StreamInfo:
        if self._info is not None:
            raise ProtocolError("second start message")
        start = section(data, "start")
        media_format = start.get("mediaFormat")
        if not isinstance(media_format, dict):
            raise ProtocolError("start.mediaFormat missing")
        encoding = media_format.get("encoding")
        codec = _ENCODINGS.get(str(encoding))
        if codec is None:
            raise ProtocolError(f"unsupported encoding {encoding!r}")
        rate = media_format.get("sampleRate")
        channels = media_format.get("channels", 1)
        if rate != 8000 or channels != 1:
            raise ProtocolError(
                f"unsupported media format: {rate} Hz, {channels} channels (Twilio sends 8000/1)"
            )
        stream_id = require_safe(str(data.get("streamSid") or text_field(start, "streamSid")), "streamSid")
        self._max_payload_chars = max_payload_chars(codec, 8000, self.max_media_ms)
        self._info = StreamInfo(
            stream_id=stream_id,
            call_id=text_field(start, "callSid"),
            account_id=optional_text(start, "accountSid"),
            codec=codec,
            sample_rate_hz=8000,
            out_codec=Codec.PCMU,  # Twilio plays only μ-law 8 kHz, whatever it sends (reference §1.3)
            out_rate_hz=8000,
            channels=1,
        )
        self._decode = decoder(codec)
        self._media_prefix = f'{{"event":"media","streamSid":"{stream_id}","media":{{"payload":"'
        self._mark_prefix = f'{{"event":"mark","streamSid":"{stream_id}","mark":{{"name":"'
        self._clear = f'{{"event":"clear","streamSid":"{stream_id}"}}'
        return self._info

    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        return self._media_prefix + base64.b64encode(self._encode(pcm)).decode() + '"}}'

    def mark_message(self, name: str) -> str:
        return self._mark_prefix + require_safe(name, "mark name") + '"}}'

    def clear_message(self) -> str:
        return self._clear
