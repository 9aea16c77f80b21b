"""Parsing the TeXML a Telnyx voice webhook answers, as far as a bidirectional `<Connect><Stream>` needs it.

Reference: /work/shared/reference/provider-protocols.md §2.1 (TeXML `<Stream>` attributes and the documented
codec/rate pairs for bidirectional RTP) and §2.6 (forgetting ``bidirectionalMode="rtp"`` leaves MP3 mode,
where raw audio frames are silently ignored). The document shape is TwiML's, parsed by twiml.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callbridge.devkit.simulators.audio_codec import Encoding, encoding_named
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.twiml import parse_connect_stream, resolve_stream_url

__all__ = ["TeXMLAnswer", "parse_texml"]

# §2.1 "Documented codec and rate pairs for bidirectional RTP", for the codecs the simulator can encode
# (G722, OPUS and AMR-WB would need codecs callbridge does not ship).
RTP_RATES_HZ: dict[str, frozenset[int]] = {
    "PCMU": frozenset({8000}),
    "PCMA": frozenset({8000}),
    "L16": frozenset({16000}),
}
_INBOUND_TRACK = "inbound_track"


@dataclass(frozen=True, slots=True)
class TeXMLAnswer:
    """A Telnyx call's `<Connect><Stream>`: where to stream, and the codecs of each direction."""

    call_sid: str
    """The call_control_id (``v3:…``), which TeXML posts as ``CallSid``."""
    from_number: str
    to_number: str
    stream_url: str
    parameters: dict[str, str]
    """`<Parameter name value>` children; Telnyx says only that they are "included in the start message"."""
    codec: str
    """The inbound codec asked for (`codec`): PCMU, PCMA, L16, or ``default`` (the call's codec)."""
    bidirectional_codec: Encoding
    """What the server's `media` payloads are in (`bidirectionalCodec`, default PCMU)."""
    bidirectional_rate_hz: int
    hangup_follows: bool
    verbs_after_connect: tuple[str, ...]
    texml: str
    status_callback: str | None = None
    stream_attributes: dict[str, str] = field(default_factory=dict)


def parse_texml(
    texml: str,
    *,
    call_sid: str,
    from_number: str,
    to_number: str,
    webhook_url: str,
    allow_insecure_ws: bool = False,
) -> TeXMLAnswer:
    """Parse ``<Response><Connect><Stream bidirectionalMode="rtp" …>…</Stream></Connect>…</Response>``.

    Raises AnswerError for a stream Telnyx would run in MP3 mode, a codec or rate outside the documented
    RTP pairs, a non-inbound track, or a non-``wss`` URL (``ws://`` passes with ``allow_insecure_ws``).
    """
    connect = parse_connect_stream(texml, dialect="TeXML", error=AnswerError)
    attributes = connect.attributes
    stream_url = resolve_stream_url(
        attributes.get("url"),
        webhook_url=webhook_url,
        allow_insecure_ws=allow_insecure_ws,
        error=AnswerError,
        scheme_rule="Telnyx streams to wss URLs",
    )
    mode = attributes.get("bidirectionalMode", "mp3")
    if mode != "rtp":
        raise AnswerError(
            f'<Stream bidirectionalMode="{mode}">: Telnyx would take MP3 files (the default mode) and '
            'silently ignore raw audio frames; set bidirectionalMode="rtp"'
        )
    track = attributes.get("track", _INBOUND_TRACK)
    if track != _INBOUND_TRACK:
        raise AnswerError(
            f'<Stream track="{track}">: the simulator streams the caller only ({_INBOUND_TRACK})'
        )
    codec = attributes.get("codec", "default")
    if codec != "default" and codec not in RTP_RATES_HZ:
        raise AnswerError(
            f'<Stream codec="{codec}">: the simulator sends PCMU, PCMA, L16 or the call default'
        )
    outbound = attributes.get("bidirectionalCodec", "PCMU")  # case-sensitive (§2.1)
    rate_text = attributes.get("bidirectionalSamplingRate", "8000")
    encoding = encoding_named(outbound)
    if encoding is None:
        raise AnswerError(
            f'<Stream bidirectionalCodec="{outbound}">: the simulator plays PCMU, PCMA, L16 (case-sensitive)'
        )
    if not rate_text.isdigit() or int(rate_text) not in RTP_RATES_HZ[encoding]:
        rates = ", ".join(str(rate) for rate in sorted(RTP_RATES_HZ[encoding]))
        raise AnswerError(
            f'<Stream bidirectionalSamplingRate="{rate_text}">: Telnyx documents {outbound} over RTP at '
            f"{rates} Hz"
        )
    return TeXMLAnswer(
        call_sid=call_sid,
        from_number=from_number,
        to_number=to_number,
        stream_url=stream_url,
        parameters=connect.parameters,
        codec=codec,
        bidirectional_codec=encoding,
        bidirectional_rate_hz=int(rate_text),
        hangup_follows=connect.hangup_follows,
        verbs_after_connect=connect.verbs_after_connect,
        texml=texml,
        status_callback=attributes.get("statusCallback"),
        stream_attributes=attributes,
    )
