"""Telnyx media streaming, bidirectional RTP mode (``bidirectionalMode="rtp"``), reference §2.

In: ``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``error``, ``stop`` (snake_case, ``stream_id``
at the top level). Out: ``media``, ``mark``, ``clear``, without ``stream_id`` (not required, §2.3).

The two directions are independent (§2.5, §2.6): inbound is decoded by what ``start.media_format`` says,
which may silently be the call's codec rather than the one asked for; outbound is encoded in the codec
callbridge declared as ``bidirectionalCodec``, which the webhooks service records on the call's
``medium.telnyx``. A call without that record (joined by the user's own TeXML) plays what it receives.

L16 byte order is undocumented (§2.5): ``StreamOptions.telnyx_l16_byte_order`` is assumed, the first
inbound frames with signal are checked, and on clear evidence of the other order both directions switch
for this call, with one warning. ``l16_byte_order`` tells which order is in use.

Messages may arrive out of order (§2.2): media frames are put back in order by ``sequence_number`` in a
small window (see reorder.py); ``reorder`` holds its counters.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider, TelnyxCodec
from callbridge.media.providers.base import (
    ByteOrder,
    Codec,
    Connected,
    DtmfPressed,
    Ignored,
    Inbound,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    ProviderErrorReported,
    ProviderStream,
    Started,
    Stopped,
    StreamInfo,
    StreamOptions,
)
from callbridge.media.providers.byte_order import ByteOrderCheck
from callbridge.media.providers.payload import (
    Decoder,
    Encoder,
    decoder,
    encoder,
    max_payload_chars,
    not_started,
)
from callbridge.media.providers.reorder import SequenceReorderer
from callbridge.media.providers.wire import (
    dtmf_digit,
    load_object,
    media_track,
    optional_text,
    payload_bytes,
    rate_hz,
    require_safe,
    section,
    sequence_number,
    text_field,
)
from callbridge.media.ratelimit import CallLog

# What callbridge decodes, as (encoding, rate): G.711 at 8 kHz and L16 at 16 kHz are Telnyx's documented
# pairs (§2.1); G722, OPUS and AMR-WB would need codecs callbridge does not carry.
_FORMATS = {("PCMU", 8000): Codec.PCMU, ("PCMA", 8000): Codec.PCMA, ("L16", 16000): Codec.L16}
_MEDIUM_CODECS = {TelnyxCodec.PCMU: Codec.PCMU, TelnyxCodec.PCMA: Codec.PCMA, TelnyxCodec.L16: Codec.L16}
_NATIVE_RATES_HZ = {Codec.PCMU: 8000, Codec.PCMA: 8000, Codec.L16: 16000}
_INBOUND_TRACKS = frozenset({"inbound", "inbound_track"})  # both spellings are seen (§2.2)
_SEQ = "sequence_number"
_MAX_ERROR_TEXT = 200

_MEDIA_PREFIX = '{"event":"media","media":{"payload":"'
_MARK_PREFIX = '{"event":"mark","mark":{"name":"'
_CLEAR = '{"event":"clear"}'


class TelnyxMediaStream(ProviderStream):
    provider: ClassVar[Provider] = Provider.TELNYX
    # Telnyx forwards the call's RTP packets, 20 ms each (§2.2); five frames' worth leaves room for a carrier
    # packetizing at 30, 40 or 60 ms and is still far below what could delay the call.
    max_media_ms: ClassVar[int] = 100

    def __init__(self, call: Call, options: StreamOptions, log: CallLog | None = None) -> None:
        super().__init__(call, options, log)
        self._info: StreamInfo | None = None
        self._decode: Decoder | None = None
        self._encode: Encoder = not_started
        self._medium = call.medium.telnyx if call.medium is not None else None
        self._byte_order: ByteOrder = options.telnyx_l16_byte_order
        self._byte_order_check: ByteOrderCheck | None = None
        self.reorder = SequenceReorderer()
        self._max_payload_chars = 0

    @property
    def info(self) -> StreamInfo | None:
        return self._info

    def counters(self) -> dict[str, int]:
        reorder = self.reorder
        return {
            "frames_reordered": reorder.frames_reordered,
            "frames_dropped_late": reorder.frames_dropped_late,
            "gaps_skipped": reorder.gaps_skipped,
            "counter_restarts": reorder.counter_restarts,
        }

    @property
    def l16_byte_order(self) -> ByteOrder:
        """The L16 byte order in use both ways: the configured one, or what the inbound audio showed."""
        return self._byte_order

    @property
    def l16_byte_order_switched(self) -> bool:
        return self._byte_order != self.options.telnyx_l16_byte_order

    def _parse(self, message: str | bytes) -> Inbound:
        data = load_object(message)
        event = data.get("event")
        # Ordered by frequency: media and mark echoes are 50 a second each, the rest a handful per call.
        if event == "media":
            return self._media(data)
        self._take_number(data)
        if event == "mark":
            return MarkPlayed(text_field(section(data, "mark"), "name"))
        if event == "dtmf":
            return DtmfPressed(dtmf_digit(data))
        if event == "error":
            return self._error(data)
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
        if track is not None and track not in _INBOUND_TRACKS:
            if track.startswith("outbound"):
                self._take_number(data)
                return Ignored(f"track {track}")
            raise ProtocolError(f"unknown media track {track!r}")
        seq = sequence_number(data, _SEQ)
        try:
            payload = payload_bytes(media, self._max_payload_chars)
            pcm = decode(payload)
            check = self._byte_order_check
            if check is not None:  # only a frame that parsed and decoded whole may vote
                pcm = self._check_byte_order(check, payload, pcm)
        except Exception:
            if seq is not None:
                self.reorder.skip(seq)  # a broken frame is not worth a 60 ms wait for it
            raise
        if seq is None:
            return MediaReceived(pcm)
        frames = self.reorder.push(seq, pcm)
        if not frames:
            return Ignored("held for reordering")
        return MediaReceived(frames[0] if len(frames) == 1 else np.concatenate(frames))

    def _take_number(self, data: dict[str, Any]) -> None:
        """Messages without caller audio still use up a sequence number (see reorder.py)."""
        seq = sequence_number(data, _SEQ)
        if seq is not None:
            self.reorder.skip(seq)

    def _error(self, data: dict[str, Any]) -> ProviderErrorReported:
        # {"event":"error","payload":{"code":100003,"title":"malformed_frame","detail":"…"}} (§2.2)
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise ProtocolError("error message without a 'payload' object")
        return ProviderErrorReported(
            code=str(payload.get("code", ""))[:32],
            title=str(payload.get("title", ""))[:_MAX_ERROR_TEXT],
            detail=str(payload.get("detail", ""))[:_MAX_ERROR_TEXT],
        )

    def _start(self, data: dict[str, Any]) -> StreamInfo:
        if self._info is not None:
            raise ProtocolError("second start message")
        start = section(data, "start")
        media_format = section(start, "media_format")
        encoding = str(media_format.get("encoding", "")).upper()
        rate = rate_hz(media_format.get("sample_rate"))
        codec = _FORMATS.get((encoding, rate)) if rate is not None else None
        if codec is None:
            raise ProtocolError(
                f"unsupported Telnyx media format {encoding or '?'}/{rate}: callbridge decodes PCMU or PCMA "
                "at 8000 Hz and L16 at 16000 Hz (set codec= on <Stream>)"
            )
        channels = media_format.get("channels", 1)
        if channels != 1:
            raise ProtocolError(f"unsupported Telnyx media format: {channels} channels (mono only)")
        stream_id = optional_text(data, "stream_id") or text_field(start, "stream_id")
        out_codec, out_rate_hz = self._outbound_format(codec)
        self._info = StreamInfo(
            stream_id=stream_id,
            call_id=text_field(start, "call_control_id"),
            account_id=optional_text(start, "user_id"),
            codec=codec,
            sample_rate_hz=_NATIVE_RATES_HZ[codec],  # = rate, the only one per codec
            out_codec=out_codec,
            out_rate_hz=out_rate_hz,
            channels=1,
        )
        self._decode = decoder(codec, self._byte_order)
        self._max_payload_chars = max_payload_chars(codec, _NATIVE_RATES_HZ[codec], self.max_media_ms)
        self._encode = encoder(out_codec, self._byte_order)
        if codec is Codec.L16:
            self._byte_order_check = ByteOrderCheck(self._byte_order, _NATIVE_RATES_HZ[codec])
        return self._info

    def _outbound_format(self, inbound: Codec) -> tuple[Codec, int]:
        """What callbridge declared as ``bidirectionalCodec``/``SamplingRate``; else what Telnyx sends."""
        medium = self._medium
        if medium is None or medium.codec is None:
            return inbound, _NATIVE_RATES_HZ[inbound]
        codec = _MEDIUM_CODECS[medium.codec]
        # TelnyxMedium validates the pair: G.711 at 8 kHz only, L16 at 16 kHz only.
        return codec, medium.sample_rate or _NATIVE_RATES_HZ[codec]

    def _check_byte_order(
        self, check: ByteOrderCheck, payload: bytes, pcm: npt.NDArray[np.int16]
    ) -> npt.NDArray[np.int16]:
        """Feed the L16 check with a decoded frame; the frame, decoded again when the check settles on the
        other order (the frames before it were decoded in the assumed order: a few, see byte_order.py)."""
        verdict = check.observe(payload)
        if check.done:
            self._byte_order_check = None
        if verdict is not None and verdict != self._byte_order:
            self.log.warning(
                "Telnyx L16 audio is %s-endian, not %s-endian as configured "
                "(CALLBRIDGE_TELNYX_L16_BYTE_ORDER); using %s-endian both ways for this call",
                verdict,
                self._byte_order,
                verdict,
            )
            self.notices.append(
                f"Telnyx L16 audio is {verdict}-endian, not {self._byte_order}-endian as configured "
                f"(CALLBRIDGE_TELNYX_L16_BYTE_ORDER): using {verdict}-endian both ways for this call"
            )
            self._byte_order = verdict
            self._decode = decoder(Codec.L16, verdict)
            if self._info is not None:
                self._encode = encoder(self._info.out_codec, verdict)
            pcm = self._decode(payload)
        elif check.done and verdict is None:
            self.log.info(
                "Telnyx L16 byte order not evident from the audio; keeping %s-endian", self._byte_order
            )
        return pcm

    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        return _MEDIA_PREFIX + base64.b64encode(self._encode(pcm)).decode() + '"}}'

    def mark_message(self, name: str) -> str:
        return _MARK_PREFIX + require_safe(name, "mark name") + '"}}'

    def clear_message(self) -> str:
        return _CLEAR
