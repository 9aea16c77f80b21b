"""Plivo's webhooks: the answer_url request, its audio and its ``<Stream>`` answer, and the stream status and
hang-up callbacks (reference §3.1, §3.5). The signature is in signature.py."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from callbridge.common.models.medium import CallMedium, PlivoCodec, PlivoMedium, Provider
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
from callbridge.telephony.plivo.credentials import StoredPlivoConfig
from callbridge.telephony.request import ProviderRequest
from callbridge.telephony.status import ProviderStatus, dial_status_of, outcome_of, pick_fields

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


def incoming_call(request: ProviderRequest, config: StoredPlivoConfig) -> IncomingCall:
    return call_from_fields(request, "CallUUID", account_id=config.auth_id)


class PlivoStreamPlan(StreamPlan):
    def __init__(self, medium: CallMedium, audio: PlivoAudio) -> None:
        super().__init__(medium)
        self.audio = audio

    def answer(self, target: StreamTarget) -> AnswerDocument:
        return AnswerDocument(
            stream_xml(target.join_url, target.status_callback_url, self.audio), XML_MEDIA_TYPE
        )


def plan_stream(config: StoredPlivoConfig, template: CallMedium | None) -> PlivoStreamPlan:
    settings = template_settings(template, Provider.PLIVO)
    audio = choose_audio(PlivoMedium.model_validate(settings) if settings else None, config)
    chosen = PlivoMedium.model_validate(
        {**settings, "codec": audio.codec, "sample_rate": audio.sample_rate_hz}
    )
    return PlivoStreamPlan(medium_of(Provider.PLIVO, chosen), audio)


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A stream status callback (``Event``) or a hang-up callback (``CallStatus``, ``HangupCause``)."""
    status = request.field("Event", "CallStatus")
    if status is None:
        raise InvalidProviderRequest("Plivo status callback without Event or CallStatus")
    return ProviderStatus(
        status=status,
        outcome=outcome_of(status, EVENTS_ENDED, EVENTS_FAILED),
        provider_call_id=request.field("CallUUID"),
        detail=request.field("HangupCause", "Error"),
        fields=pick_fields(request.flat_fields(), STATUS_FIELDS),
        dial_status=dial_status_of(request.field("CallStatus")) if _about_the_call(request) else None,
    )


def _about_the_call(request: ProviderRequest) -> bool:
    """A ring or hang-up callback (``CallStatus``, and ``Event`` absent or ``Hangup``), not the stream's."""
    return request.field("Event") in (None, "Hangup")
