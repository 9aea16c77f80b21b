"""Plivo audio streaming, bidirectional (``<Stream bidirectional="true">``), reference §3.

In: ``start`` (no ``connected`` before it; ``sequenceNumber`` is a number), ``media``, ``dtmf``,
``playedStream`` (the FAQ calls it ``played``; both are accepted, §3.2), ``clearedAudio``, ``stop`` (not in
Plivo's docs, sent per its Java SDK). Out: ``playAudio``, ``checkpoint``, ``clearAudio`` (§3.3).

Audio is ``audio/x-mulaw`` at 8 kHz or ``audio/x-l16`` at 8 or 16 kHz, L16 little-endian (§3.4). Every
``playAudio`` names its contentType and sampleRate, and they must be what the stream was set up with: a
rate that differs from ``<Stream contentType>`` plays at the wrong speed (§3.6). That is the call's
``medium.plivo`` codec and rate (what the webhooks service put in its XML), else the inbound format.

A ``checkpoint`` is answered only when the audio before it played (§3.2); after ``clearAudio`` Plivo
answers ``clearedAudio`` instead of the pending checkpoints, which the playout then resolves as not heard.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from callbridge.common.models.call import Call
from callbridge.common.models.medium import PlivoCodec, Provider
from callbridge.media.providers.base import (
    Cleared,
    Codec,
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

_L16 = "audio/x-l16"
_MULAW = "audio/x-mulaw"
# The documented contentType/sampleRate pairs (§3.3), both directions.
_FORMATS = {(_MULAW, 8000): Codec.PCMU, (_L16, 8000): Codec.L16, (_L16, 16000): Codec.L16}
_CONTENT_TYPES = {Codec.PCMU: _MULAW, Codec.L16: _L16}
_MEDIUM_CODECS = {PlivoCodec.PCMU: Codec.PCMU, PlivoCodec.L16: Codec.L16}
_PLIVO_DEFAULT_RATE_HZ = 8000  # <Stream contentType> default audio/x-l16;rate=8000 (§3.1)


class PlivoMediaStream(ProviderStream):
    provider: ClassVar[Provider] = Provider.PLIVO
    # Plivo sends 20 ms frames (§3.2); five frames' worth is far beyond any it sends.
    max_media_ms: ClassVar[int] = 100

    def __init__(self, call: Call, options: StreamOptions, log: CallLog | None = None) -> None:
        super().__init__(call, options, log)
        self._info: StreamInfo | None = None
        self._decode: Decoder | None = None
        self._encode: Encoder = not_started
        self._medium = call.medium.plivo if call.medium is not None else None
        self._media_prefix = ""
        self._checkpoint_prefix = ""
        self._clear = ""
        self._max_payload_chars = 0

    @property
    def info(self) -> StreamInfo | None:
        return self._info

    def _parse(self, message: str | bytes) -> Inbound:
        data = load_object(message)
        event = data.get("event")
        # Ordered by frequency: media and checkpoint answers are 50 a second each, the rest rare.
        if event == "media":
            return self._media(data)
        if event == "playedStream" or event == "played":
            return MarkPlayed(text_field(data, "name"))
        if event == "dtmf":
            return DtmfPressed(dtmf_digit(data))
        if event == "clearedAudio":
            return Cleared()
        if event == "start":
            return Started(self._start(data))
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
        codec, rate = _media_format(section(start, "mediaFormat"))
        stream_id = require_safe(text_field(start, "streamId"), "streamId")
        out_codec, out_rate_hz = self._outbound_format(codec, rate)
        self._info = StreamInfo(
            stream_id=stream_id,
            call_id=text_field(start, "callId"),
            account_id=optional_text(start, "accountId"),
            codec=codec,
            sample_rate_hz=rate,
            out_codec=out_codec,
            out_rate_hz=out_rate_hz,
            channels=1,
        )
        if (out_codec, out_rate_hz) != (codec, rate):
            # Plivo has one contentType per stream; a difference means the call record and the XML that
            # started this stream disagree. playAudio declares what it carries, so it still plays right.
            self.log.warning(
                "Plivo streams %s, the call's medium asks for %s; playing %s",
                f"{_CONTENT_TYPES[codec]};rate={rate}",
                f"{_CONTENT_TYPES[out_codec]};rate={out_rate_hz}",
                f"{_CONTENT_TYPES[out_codec]};rate={out_rate_hz}",
            )
        self._decode = decoder(codec)  # L16 is little-endian (§3.4)
        self._max_payload_chars = max_payload_chars(codec, rate, self.max_media_ms)
        self._encode = encoder(out_codec)
        self._media_prefix = (
            f'{{"event":"playAudio","media":{{"contentType":"{_CONTENT_TYPES[out_codec]}",'
            f'"sampleRate":{out_rate_hz},"payload":"'
        )
        self._checkpoint_prefix = f'{{"event":"checkpoint","streamId":"{stream_id}","name":"'
        self._clear = f'{{"event":"clearAudio","streamId":"{stream_id}"}}'
        return self._info

    def _outbound_format(self, inbound: Codec, inbound_rate_hz: int) -> tuple[Codec, int]:
        medium = self._medium
        if medium is None or medium.codec is None:
            return inbound, inbound_rate_hz
        codec = _MEDIUM_CODECS[medium.codec]
        if medium.sample_rate is not None:
            return codec, medium.sample_rate
        if codec is Codec.L16 and inbound is Codec.L16:
            return codec, inbound_rate_hz
        return codec, _PLIVO_DEFAULT_RATE_HZ  # μ-law is 8 kHz only; Plivo's L16 default is 8 kHz

    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        return self._media_prefix + base64.b64encode(self._encode(pcm)).decode() + '"}}'

    def mark_message(self, name: str) -> str:
        return self._checkpoint_prefix + require_safe(name, "checkpoint name") + '"}'

    def clear_message(self) -> str:
        return self._clear


def _media_format(media_format: dict[str, Any]) -> tuple[Codec, int]:
    """``{"encoding": "audio/x-l16", "sampleRate": 16000}``; a ``;rate=`` on the encoding, as in the XML's
    contentType, stands in for a missing sampleRate."""
    encoding, _, parameter = str(media_format.get("encoding", "")).partition(";")
    encoding = encoding.strip().lower()
    rate = rate_hz(media_format.get("sampleRate"))
    if rate is None and parameter.strip().startswith("rate="):
        rate = rate_hz(parameter.strip().removeprefix("rate="))
    codec = _FORMATS.get((encoding, rate or 0))
    if codec is None:
        raise ProtocolError(
            f"unsupported Plivo media format {encoding or '?'}/{rate}: audio/x-mulaw at 8000 Hz or "
            "audio/x-l16 at 8000 or 16000 Hz"
        )
    assert rate is not None  # every known pair has a rate
    return codec, rate
