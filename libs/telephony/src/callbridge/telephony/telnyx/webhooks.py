"""Telnyx's webhooks: the TeXML incoming call, its audio and its answer, and the stream and call status
callbacks, form or Call Control JSON (reference §2.1, §2.4). The signature is in signature.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from callbridge.common.models.call import DialStatus
from callbridge.common.models.medium import CallMedium, Provider, TelnyxCodec, TelnyxMedium
from callbridge.telephony.errors import InvalidProviderRequest
from callbridge.telephony.incoming import (
    XML_MEDIA_TYPE,
    AnswerDocument,
    IncomingCall,
    StreamPlan,
    StreamTarget,
    call_from_fields,
    medium_of,
    template_settings,
)
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.status import ProviderStatus, dial_status_of, outcome_of, pick_fields
from callbridge.telephony.telnyx.credentials import StoredTelnyxConfig

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


def incoming_call(request: ProviderRequest, config: StoredTelnyxConfig) -> IncomingCall:
    """CallSid is the call_control_id (§2.1); AccountSid is informational: the signature already proves
    the request is from the account whose public key is imported."""
    return call_from_fields(request, "CallSid", account_id=request.field("AccountSid") or config.account_sid)


class TelnyxStreamPlan(StreamPlan):
    def __init__(self, medium: CallMedium, audio: TelnyxAudio) -> None:
        super().__init__(medium)
        self.audio = audio

    def answer(self, target: StreamTarget) -> AnswerDocument:
        texml = connect_stream_texml(
            target.join_url, str(target.call_id), target.status_callback_url, self.audio
        )
        return AnswerDocument(texml, XML_MEDIA_TYPE)


def plan_stream(config: StoredTelnyxConfig, template: CallMedium | None) -> TelnyxStreamPlan:
    settings = template_settings(template, Provider.TELNYX)
    audio = choose_audio(TelnyxMedium.model_validate(settings) if settings else None, config)
    chosen = TelnyxMedium.model_validate(
        {**settings, "codec": audio.codec, "sample_rate": audio.sample_rate_hz}
    )
    return TelnyxStreamPlan(medium_of(Provider.TELNYX, chosen), audio)


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A TeXML stream or call status callback (form), or a Call Control webhook (JSON)."""
    if request.json is not None:
        return _call_control_status(request.json)
    fields = pick_fields(request.flat_fields(), FORM_STATUS_FIELDS)
    stream_event = request.field("StreamEvent")
    status = stream_event or request.field("CallStatus")
    if status is None:
        raise InvalidProviderRequest("Telnyx status callback without StreamEvent or CallStatus")
    ended, failed = (EVENTS_ENDED, EVENTS_FAILED) if stream_event else (CALL_ENDED, CALL_FAILED)
    return ProviderStatus(
        status=status,
        outcome=outcome_of(status, ended, failed),
        provider_call_id=request.field("CallSid"),
        detail=request.field("StreamError"),
        fields=fields,
        dial_status=None if stream_event else dial_status_of(status),
    )


def _call_control_status(document: Mapping[str, Any]) -> ProviderStatus:
    """``{"data": {"event_type", "id", "occurred_at", "payload": {...}}}`` (§2.4)."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidProviderRequest("Telnyx webhook without data")
    payload, event_type = data.get("payload"), data.get("event_type")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise InvalidProviderRequest("Telnyx webhook without data.event_type and data.payload")
    call_control_id = payload.get("call_control_id")
    detail = payload.get("failure_reason") or payload.get("hangup_cause")
    return ProviderStatus(
        status=event_type,
        outcome=outcome_of(event_type, EVENTS_ENDED, EVENTS_FAILED),
        provider_call_id=call_control_id if isinstance(call_control_id, str) else None,
        detail=detail if isinstance(detail, str) else None,
        fields=pick_fields({**data, **payload}, JSON_STATUS_FIELDS),
        dial_status=_call_control_dial_status(event_type, payload.get("hangup_cause")),
    )


CALL_CONTROL_EVENTS: Mapping[str, DialStatus] = {
    "call.initiated": DialStatus.INITIATED,
    "call.ringing": DialStatus.RINGING,
    "call.answered": DialStatus.ANSWERED,
}
HANGUP_CAUSES: Mapping[str, DialStatus] = {
    "normal_clearing": DialStatus.COMPLETED,
    "user_busy": DialStatus.BUSY,
    "call_rejected": DialStatus.BUSY,
    "timeout": DialStatus.NO_ANSWER,
    "no_answer": DialStatus.NO_ANSWER,
    "originator_cancel": DialStatus.CANCELED,
}
"""``call.hangup``'s ``hangup_cause`` (§2.4); any other cause of a call never answered is a failure."""


def _call_control_dial_status(event_type: str, hangup_cause: object) -> DialStatus | None:
    if event_type != "call.hangup":
        return CALL_CONTROL_EVENTS.get(event_type)
    return HANGUP_CAUSES.get(hangup_cause if isinstance(hangup_cause, str) else "", DialStatus.FAILED)
