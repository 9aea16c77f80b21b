"""Parsing the Plivo XML an answer URL returns, as far as a bidirectional `<Stream>` needs it.

Reference: /work/shared/reference/provider-protocols.md §3.1: the WebSocket URL is the element *text*;
`bidirectional="true"` lets the server play audio; `keepCallAlive="true"` holds the call on the stream
(without it the call goes on, usually to its end, right after connecting); `contentType` picks the format of
both directions and defaults to L16 at 8 kHz (§3.6).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.twiml import resolve_stream_url

__all__ = ["PlivoAnswer", "PlivoEncoding", "parse_content_type", "parse_plivo_xml"]

PlivoEncoding = Literal["audio/x-l16", "audio/x-mulaw"]
DEFAULT_CONTENT_TYPE = "audio/x-l16;rate=8000"  # §3.1: the default, not μ-law
# §3.1 `contentType` values (and §3.3's playAudio pairs).
CONTENT_TYPE_RATES_HZ: dict[PlivoEncoding, frozenset[int]] = {
    "audio/x-l16": frozenset({8000, 16000}),
    "audio/x-mulaw": frozenset({8000}),
}


@dataclass(frozen=True, slots=True)
class PlivoAnswer:
    """A Plivo call's `<Stream>`: where to stream and in which format (both directions share it)."""

    call_uuid: str
    stream_url: str
    content_type: str
    """As the XML wrote it (or the default); parsed into ``encoding`` and ``sample_rate_hz``."""
    encoding: PlivoEncoding
    sample_rate_hz: int
    elements_after_stream: tuple[str, ...]
    """What runs once the stream disconnects (keepCallAlive, §3.1)."""
    xml: str
    extra_headers: str | None = None
    status_callback_url: str | None = None
    stream_attributes: dict[str, str] = field(default_factory=dict)


def parse_content_type(content_type: str) -> tuple[PlivoEncoding, int] | None:
    """``"audio/x-l16;rate=16000"`` -> ``("audio/x-l16", 16000)``; None for a pair Plivo does not offer."""
    media_type, _, parameters = content_type.replace(" ", "").partition(";")
    rate_text = parameters.removeprefix("rate=")
    encoding: PlivoEncoding | None = next(
        (name for name in CONTENT_TYPE_RATES_HZ if name == media_type), None
    )
    if encoding is None or not rate_text.isdigit() or int(rate_text) not in CONTENT_TYPE_RATES_HZ[encoding]:
        return None
    return encoding, int(rate_text)


def parse_plivo_xml(
    xml: str, *, call_uuid: str, webhook_url: str, allow_insecure_ws: bool = False
) -> PlivoAnswer:
    """Parse ``<Response><Stream bidirectional="true" keepCallAlive="true" …>wss://…</Stream>…</Response>``.

    Raises AnswerError for anything Plivo would not run as a bidirectional stream that holds the call,
    and for elements before `<Stream>`, which the simulator cannot perform.
    """
    try:
        # The document comes from the webhook under test; expat (>= 2.4.1, bundled with Python 3.11)
        # caps entity expansion and ElementTree never fetches external entities.
        root = ET.fromstring(xml)  # noqa: S314 - see the comment above
    except ET.ParseError as exc:
        raise AnswerError(f"Plivo XML is not well-formed: {exc}") from exc
    if root.tag != "Response":
        raise AnswerError(f"Plivo XML root element must be <Response>, got <{root.tag}>")
    elements = list(root)
    if not elements or elements[0].tag != "Stream":
        found = ", ".join(f"<{element.tag}>" for element in elements) or "nothing"
        raise AnswerError(f"the simulator runs a <Response> that starts with <Stream>, found {found}")
    stream = elements[0]
    attributes = dict(stream.attrib)
    if attributes.get("bidirectional", "").lower() != "true":
        raise AnswerError('<Stream> needs bidirectional="true", or Plivo ignores playAudio')
    if attributes.get("keepCallAlive", "").lower() != "true":
        raise AnswerError(
            '<Stream> needs keepCallAlive="true", or Plivo runs on past it and drops the call right '
            "after connecting"
        )
    track = attributes.get("audioTrack", "inbound")
    if track != "inbound":
        raise AnswerError(f'<Stream audioTrack="{track}">: a bidirectional stream must be "inbound"')
    content_type = attributes.get("contentType", DEFAULT_CONTENT_TYPE)
    parsed = parse_content_type(content_type)
    if parsed is None:
        raise AnswerError(
            f'<Stream contentType="{content_type}">: Plivo offers audio/x-l16;rate=8000, '
            "audio/x-l16;rate=16000 and audio/x-mulaw;rate=8000"
        )
    stream_url = resolve_stream_url(
        (stream.text or "").strip(),
        webhook_url=webhook_url,
        allow_insecure_ws=allow_insecure_ws,
        error=AnswerError,
        scheme_rule="the <Stream> text is the wss URL",
    )
    return PlivoAnswer(
        call_uuid=call_uuid,
        stream_url=stream_url,
        content_type=content_type,
        encoding=parsed[0],
        sample_rate_hz=parsed[1],
        elements_after_stream=tuple(element.tag for element in elements[1:]),
        xml=xml,
        extra_headers=attributes.get("extraHeaders"),
        status_callback_url=attributes.get("statusCallbackUrl"),
        stream_attributes=attributes,
    )
