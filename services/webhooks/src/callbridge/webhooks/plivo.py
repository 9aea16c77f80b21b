"""Plivo's side of the webhooks: ``X-Plivo-Signature-V3``, the answer_url request and its ``<Stream>`` answer,
and the stream status and hang-up callbacks (reference §3.1, §3.5, §5.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree as ET

from callbridge.common.models.medium import PlivoCodec, PlivoMedium
from callbridge.common.models.telephony import StoredPlivoConfig
from callbridge.webhooks.errors import InvalidRequestError, VerificationError
from callbridge.webhooks.provider_request import ProviderRequest
from callbridge.webhooks.status import ProviderStatus, outcome_of, pick_fields

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
MAIN_ACCOUNT_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
CREDENTIAL_HEADERS = (SIGNATURE_HEADER, MAIN_ACCOUNT_SIGNATURE_HEADER, NONCE_HEADER)

DEFAULT_CODEC = PlivoCodec.L16
DEFAULT_L16_RATE_HZ = 16000
MULAW_RATE_HZ = 8000  # §3.1: audio/x-mulaw only at 8 kHz

# §3.1 stream status Event, and the hang-up callback's Event/CallStatus (§3.5).
EVENTS_ENDED = frozenset({"StopStream", "Hangup", "completed", "busy", "no-answer", "timeout"})
EVENTS_FAILED = frozenset({"DroppedStream", "failed"})
STATUS_FIELDS = (
    "CallUUID",
    "Event",
    "CallStatus",
    "HangupCause",
    "HangupSource",
    "Duration",
    "StreamId",
    "StreamID",
    "Timestamp",
    "Error",
)


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """§5.3: what V3 signs before ``.{nonce}``, built as plivo-python's ``signature_v3`` builds it.

    GET: ``scheme://host/path?`` + the URL's query merged with ``params``, sorted as ``k=v&k=v``.
    POST: ``scheme://host/path``, ``?`` if there is a query or parameters, the sorted query, ``.`` if
    there are both, then the parameters sorted as ``keyvalue`` with no separators.
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    posted = _grouped(params)
    if method.upper() == "GET":
        sorted_query = _sorted_query({**posted, **query})  # the SDK lets the URL's query win
        return f"{base}?{sorted_query}" if sorted_query else base
    sorted_query = _sorted_query(query)
    if sorted_query or posted:
        base += "?" + sorted_query
    if sorted_query and posted:
        base += "."
    return base + "".join(f"{key}{value}" for key in sorted(posted) for value in sorted(posted[key]))


def compute_signature(auth_token: str, base: bytes, nonce: str) -> str:
    """``base64(HMAC-SHA256(auth_token, base + "." + nonce))``."""
    digest = hmac.new(auth_token.encode(), base + b"." + nonce.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(auth_token: str, request: ProviderRequest) -> str:
    """Any entry of ``X-Plivo-Signature-V3`` or ``-Ma-V3`` (each may be a comma-separated list) matching
    our token verifies. Returns the matching signature (the replay key); VerificationError otherwise."""
    nonce = request.headers.get(NONCE_HEADER)
    if not nonce:
        raise VerificationError(f"missing {NONCE_HEADER} header")
    offered = [
        entry.strip()
        for header in (SIGNATURE_HEADER, MAIN_ACCOUNT_SIGNATURE_HEADER)
        for entry in request.headers.get(header, "").split(",")
        if entry.strip()
    ]
    if not offered:
        raise VerificationError(f"missing {SIGNATURE_HEADER} header")
    params = [(key, value) for key, value in request.form.multi_items() if isinstance(value, str)]
    text = base_string(request.method, request.url, params)
    expected = {compute_signature(auth_token, candidate, nonce) for candidate in _encodings(text)}
    for signature in offered:
        if any(hmac.compare_digest(signature.encode(), mine.encode()) for mine in expected):
            return signature
    raise VerificationError(f"invalid {SIGNATURE_HEADER}")


def _encodings(text: str) -> set[bytes]:
    """The base string as UTF-8, and as plivo-python signs it: its UTF-8 bytes read as Latin-1 and
    encoded again (``string_format`` on bytes). The two differ only for non-ASCII fields."""
    utf8 = text.encode()
    return {utf8, utf8.decode("latin-1").encode()}


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return dict(grouped)


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


@dataclass(frozen=True, slots=True)
class PlivoAudio:
    codec: PlivoCodec
    sample_rate_hz: int

    @property
    def content_type(self) -> str:
        """§3.1: ``audio/x-l16;rate=8000|16000`` or ``audio/x-mulaw;rate=8000``."""
        kind = "x-mulaw" if self.codec is PlivoCodec.PCMU else "x-l16"
        return f"audio/{kind};rate={self.sample_rate_hz}"


def choose_audio(template: PlivoMedium | None, config: StoredPlivoConfig) -> PlivoAudio:
    """The first of (the agent template's ``medium.plivo``, the config) that says anything decides;
    ``audio/x-l16;rate=16000`` otherwise (Plivo's own default is L16 at 8 kHz, §3.6: always say it)."""
    sources = [(config.codec, config.sample_rate)]
    if template is not None:
        sources.insert(0, (template.codec, template.sample_rate))
    for codec, rate in sources:
        if codec is None and rate is None:
            continue
        codec = codec or DEFAULT_CODEC
        if codec is PlivoCodec.PCMU:
            return PlivoAudio(codec, MULAW_RATE_HZ)
        return PlivoAudio(codec, rate or DEFAULT_L16_RATE_HZ)
    return PlivoAudio(DEFAULT_CODEC, DEFAULT_L16_RATE_HZ)


def stream_xml(stream_url: str, status_callback: str, audio: PlivoAudio) -> str:
    """``<Stream>`` with the join URL as its text (§3.1). ``keepCallAlive`` keeps the call up while the
    stream runs (without it the call drops at once, §3.6); ``bidirectional`` lets the agent speak."""
    response = ET.Element("Response")
    stream = ET.SubElement(
        response,
        "Stream",
        {
            "bidirectional": "true",
            "keepCallAlive": "true",
            "contentType": audio.content_type,
            "statusCallbackUrl": status_callback,
            "statusCallbackMethod": "POST",
        },
    )
    stream.text = stream_url  # ElementTree escapes it
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A stream status callback (``Event``) or a hang-up callback (``CallStatus``, ``HangupCause``)."""
    status = request.field("Event", "CallStatus")
    if status is None:
        raise InvalidRequestError("Plivo status callback without Event or CallStatus")
    return ProviderStatus(
        status=status,
        outcome=outcome_of(status, EVENTS_ENDED, EVENTS_FAILED),
        provider_call_id=request.field("CallUUID"),
        detail=request.field("HangupCause", "Error"),
        fields=pick_fields(request.flat_fields(), STATUS_FIELDS),
    )
