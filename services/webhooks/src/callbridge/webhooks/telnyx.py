"""Telnyx's side of the webhooks: ed25519 signatures, the TeXML incoming call and its answer, and the stream
and call status callbacks (reference §2.1, §2.4, §5.2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from callbridge.common.models.medium import TelnyxCodec, TelnyxMedium
from callbridge.common.models.telephony import StoredTelnyxConfig
from callbridge.webhooks.errors import InvalidRequestError, VerificationError
from callbridge.webhooks.provider_request import ProviderRequest
from callbridge.webhooks.status import ProviderStatus, outcome_of, pick_fields

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# §5.2: Telnyx's callback docs also name the Standard-Webhooks pair; accept either, same message.
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
CREDENTIAL_HEADERS = (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER,
)

TIMESTAMP_TOLERANCE_S = 300
ED25519_SIGNATURE_BYTES = 64

DEFAULT_CODEC = TelnyxCodec.L16
NARROWBAND_RATE_HZ = 8000  # PCMU and PCMA (§2.1: 8 kHz only)
L16_RATE_HZ = 16000  # §2.1: Telnyx streams L16 at 16 kHz only

# TeXML <Stream statusCallback> StreamEvent (§2.1) and Call Control event_type (§2.1, §2.4).
EVENTS_ENDED = frozenset({"stream-stopped", "streaming.stopped", "call.hangup"})
EVENTS_FAILED = frozenset({"stream-error", "stream-failed", "streaming.failed"})
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "canceled"})
CALL_FAILED = frozenset({"failed"})
FORM_STATUS_FIELDS = (
    "AccountSid",
    "CallSid",
    "CallSidLegacy",
    "CallStatus",
    "StreamSid",
    "StreamName",
    "StreamEvent",
    "StreamError",
    "Timestamp",
)
JSON_STATUS_FIELDS = (
    "event_type",
    "id",
    "occurred_at",
    "call_control_id",
    "call_leg_id",
    "call_session_id",
    "stream_id",
    "failure_reason",
    "hangup_cause",
    "hangup_source",
)


def verify_signature(public_key_b64: str, body: bytes, headers: Mapping[str, str], now_s: float) -> bytes:
    """Reference §5.2: ed25519 over the UTF-8 bytes of ``f"{timestamp}|{raw body}"``, the timestamp within
    ±300 s of now. Returns the signature that verified (the replay key); VerificationError otherwise."""
    if SIGNATURE_HEADER in headers or TIMESTAMP_HEADER in headers:
        signature_header, timestamp_header = SIGNATURE_HEADER, TIMESTAMP_HEADER
    else:
        signature_header, timestamp_header = STANDARD_SIGNATURE_HEADER, STANDARD_TIMESTAMP_HEADER
    signatures = _decode_signatures(headers.get(signature_header, ""))
    if not signatures:
        raise VerificationError(f"missing or malformed {signature_header} header")
    timestamp = headers.get(timestamp_header, "").strip()
    if not timestamp.isdigit():
        raise VerificationError(f"missing or malformed {timestamp_header} header (Unix seconds)")
    skew_s = abs(now_s - int(timestamp))
    if skew_s > TIMESTAMP_TOLERANCE_S:
        raise VerificationError(
            f"stale request: {timestamp_header} is {skew_s:.0f} s from now "
            f"(tolerance {TIMESTAMP_TOLERANCE_S} s)"
        )
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    message = timestamp.encode() + b"|" + body  # the raw bytes, never re-serialised (§5.2)
    for signature in signatures:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return signature
    raise VerificationError(f"invalid {signature_header}")


def _decode_signatures(header: str) -> list[bytes]:
    """``telnyx-signature-ed25519`` is one base64 signature; a Standard-Webhooks ``webhook-signature``
    is a space-separated list of ``v1a,<base64>``. Entries that do not decode to 64 bytes are skipped."""
    decoded = []
    for entry in header.split():
        _, _, encoded = entry.rpartition(",")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(signature) == ED25519_SIGNATURE_BYTES:
            decoded.append(signature)
    return decoded


@dataclass(frozen=True, slots=True)
class TelnyxAudio:
    codec: TelnyxCodec
    sample_rate_hz: int


def choose_audio(template: TelnyxMedium | None, config: StoredTelnyxConfig) -> TelnyxAudio:
    """The first of (the agent template's ``medium.telnyx``, the config) that says anything decides;
    L16 at 16 kHz otherwise. A rate alone picks the codec: 8 kHz → PCMU, 16 kHz → L16."""
    sources = [(config.codec, config.sample_rate)]
    if template is not None:
        sources.insert(0, (template.codec, template.sample_rate))
    for codec, rate in sources:
        if codec is None and rate is not None:
            codec = TelnyxCodec.PCMU if rate == NARROWBAND_RATE_HZ else TelnyxCodec.L16
        if codec is not None:
            return TelnyxAudio(codec, L16_RATE_HZ if codec is TelnyxCodec.L16 else NARROWBAND_RATE_HZ)
    return TelnyxAudio(DEFAULT_CODEC, L16_RATE_HZ)


def connect_stream_texml(stream_url: str, call_id: str, status_callback: str, audio: TelnyxAudio) -> str:
    """``<Connect><Stream bidirectionalMode="rtp">`` then ``<Hangup/>`` (§2.1). ``codec`` and
    ``bidirectionalCodec`` are always equal: Telnyx's ``start`` announces only one of them (Ultravox
    §3.4), so media could not otherwise know what the caller's audio is."""
    response = ET.Element("Response")
    connect = ET.SubElement(response, "Connect")
    stream = ET.SubElement(
        connect,
        "Stream",
        {
            "url": stream_url,
            "bidirectionalMode": "rtp",
            "codec": audio.codec.value,
            "bidirectionalCodec": audio.codec.value,
            "bidirectionalSamplingRate": str(audio.sample_rate_hz),
            "statusCallback": status_callback,
            "statusCallbackMethod": "POST",
        },
    )
    ET.SubElement(stream, "Parameter", {"name": "callId", "value": call_id})
    ET.SubElement(response, "Hangup")
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A TeXML stream or call status callback (form), or a Call Control webhook (JSON)."""
    if request.json is not None:
        return _call_control_status(request.json)
    fields = pick_fields(request.flat_fields(), FORM_STATUS_FIELDS)
    stream_event = request.field("StreamEvent")
    status = stream_event or request.field("CallStatus")
    if status is None:
        raise InvalidRequestError("Telnyx status callback without StreamEvent or CallStatus")
    ended, failed = (EVENTS_ENDED, EVENTS_FAILED) if stream_event else (CALL_ENDED, CALL_FAILED)
    return ProviderStatus(
        status=status,
        outcome=outcome_of(status, ended, failed),
        provider_call_id=request.field("CallSid"),
        detail=request.field("StreamError"),
        fields=fields,
    )


def _call_control_status(document: Mapping[str, Any]) -> ProviderStatus:
    """``{"data": {"event_type", "id", "occurred_at", "payload": {...}}}`` (§2.4)."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidRequestError("Telnyx webhook without data")
    payload, event_type = data.get("payload"), data.get("event_type")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise InvalidRequestError("Telnyx webhook without data.event_type and data.payload")
    call_control_id = payload.get("call_control_id")
    detail = payload.get("failure_reason") or payload.get("hangup_cause")
    return ProviderStatus(
        status=event_type,
        outcome=outcome_of(event_type, EVENTS_ENDED, EVENTS_FAILED),
        provider_call_id=call_control_id if isinstance(call_control_id, str) else None,
        detail=detail if isinstance(detail, str) else None,
        fields=pick_fields({**data, **payload}, JSON_STATUS_FIELDS),
    )
