"""Parsing the TwiML a voice webhook answers, as far as a `<Connect><Stream>` call needs it.

Reference: /work/shared/reference/provider-protocols.md §1.1 (Twilio docs twilio.com/docs/voice/twiml/stream
and error 31922). Telnyx's TeXML has the same `<Response><Connect><Stream>` shape (§2.1), so texml.py reuses
`parse_connect_stream` and `resolve_stream_url` with its own attribute rules.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from callbridge.devkit.simulators.errors import AnswerError, TwiMLError

__all__ = ["ConnectStream", "TwiMLAnswer", "parse_connect_stream", "parse_twiml", "resolve_stream_url"]


@dataclass(frozen=True, slots=True)
class TwiMLAnswer:
    """What a webhook told the simulated call to do: open a bidirectional stream, then (usually) hang up."""

    call_sid: str
    stream_url: str
    parameters: dict[str, str]
    """`<Parameter name value>` children, which come back in `start.customParameters` (§1.1)."""
    hangup_follows: bool
    """True when `<Hangup/>` is the verb right after `<Connect>`; otherwise the call goes on to other verbs
    when the server closes the WebSocket (§1.1, dograh-hq/dograh#627)."""
    verbs_after_connect: tuple[str, ...]
    twiml: str
    stream_name: str | None = None
    status_callback: str | None = None
    stream_attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConnectStream:
    """The `<Stream>` of a ``<Response><Connect><Stream>`` document and what follows `<Connect>`."""

    attributes: dict[str, str]
    parameters: dict[str, str]
    verbs_after_connect: tuple[str, ...]

    @property
    def hangup_follows(self) -> bool:
        return bool(self.verbs_after_connect) and self.verbs_after_connect[0] == "Hangup"


def parse_connect_stream(
    document: str, *, dialect: str = "TwiML", error: type[AnswerError] = TwiMLError
) -> ConnectStream:
    """Parse ``<Response><Connect><Stream>…</Stream></Connect>…</Response>``; raise ``error`` otherwise.

    Verbs before ``<Connect>`` are refused: the simulator cannot perform them.
    """
    try:
        # The document comes from the webhook under test; expat (>= 2.4.1, bundled with Python 3.11)
        # caps entity expansion and ElementTree never fetches external entities.
        root = ET.fromstring(document)  # noqa: S314 - see the comment above
    except ET.ParseError as exc:
        raise error(f"{dialect} is not well-formed XML: {exc}") from exc
    if root.tag != "Response":
        raise error(f"{dialect} root element must be <Response>, got <{root.tag}>")

    verbs = list(root)
    connect_index = next((i for i, verb in enumerate(verbs) if verb.tag == "Connect"), None)
    if connect_index is None:
        raise error(f"{dialect} has no <Connect> verb; the simulator only runs <Connect><Stream>")
    if connect_index > 0:
        before = ", ".join(f"<{verb.tag}>" for verb in verbs[:connect_index])
        raise error(f"the simulator cannot run {before} before <Connect>")

    nouns = list(verbs[connect_index])
    if len(nouns) != 1 or nouns[0].tag != "Stream":
        found = ", ".join(f"<{noun.tag}>" for noun in nouns) or "nothing"
        raise error(f"<Connect> must hold exactly one <Stream>, found {found}")
    stream = nouns[0]

    parameters: dict[str, str] = {}
    for child in stream:
        if child.tag != "Parameter":
            raise error(f"<Stream> may only contain <Parameter>, found <{child.tag}>")
        name, value = child.get("name"), child.get("value")
        if not name or value is None:
            raise error("<Parameter> needs both a name and a value attribute")
        parameters[name] = value
    after = tuple(verb.tag for verb in verbs[connect_index + 1 :])
    return ConnectStream(attributes=dict(stream.attrib), parameters=parameters, verbs_after_connect=after)


def parse_twiml(
    twiml: str, *, call_sid: str, webhook_url: str, allow_insecure_ws: bool = False
) -> TwiMLAnswer:
    """Parse ``<Response><Connect><Stream url>…</Stream></Connect><Hangup/></Response>``.

    Raises TwiMLError for anything Twilio would refuse (a non-``wss`` URL, a query string in it: error
    31922) and for verbs before ``<Connect>``, which the simulator cannot perform. ``allow_insecure_ws``
    accepts ``ws://`` for a local stack without TLS, which real Twilio never does.
    """
    connect = parse_connect_stream(twiml)
    stream_url = resolve_stream_url(
        connect.attributes.get("url"),
        webhook_url=webhook_url,
        allow_insecure_ws=allow_insecure_ws,
        error=TwiMLError,
        scheme_rule="Twilio error 31922",
    )
    if urlsplit(stream_url).query:
        raise TwiMLError(
            f"<Stream url> must not carry a query string; use <Parameter> (error 31922): {stream_url!r}"
        )
    return TwiMLAnswer(
        call_sid=call_sid,
        stream_url=stream_url,
        parameters=connect.parameters,
        hangup_follows=connect.hangup_follows,
        verbs_after_connect=connect.verbs_after_connect,
        twiml=twiml,
        stream_name=connect.attributes.get("name"),
        status_callback=connect.attributes.get("statusCallback"),
        stream_attributes=connect.attributes,
    )


def resolve_stream_url(
    url: str | None,
    *,
    webhook_url: str,
    allow_insecure_ws: bool,
    error: type[AnswerError],
    scheme_rule: str,
) -> str:
    """The absolute ``wss://`` stream URL (or ``ws://`` when allowed); ``error`` names ``scheme_rule``."""
    if not url:
        raise error("<Stream> has no URL")
    # A relative url is allowed (§1.1); it resolves against the webhook's URL with its scheme made wss.
    if "://" not in url:
        base = urlsplit(webhook_url)
        scheme = "wss" if base.scheme == "https" else "ws"
        url = urljoin(base._replace(scheme=scheme).geturl(), url)
    parts = urlsplit(url)
    allowed = {"wss", "ws"} if allow_insecure_ws else {"wss"}
    if parts.scheme not in allowed:
        raise error(f"<Stream url> must use wss:// ({scheme_rule}), got {url!r}")
    if not parts.hostname:
        raise error(f"<Stream url> has no host: {url!r}")
    return url
