"""Twilio's webhooks: the signature, the incoming call's fields, the TwiML answer and the stream and call
status callbacks (reference §1.1, §5.1)."""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree import ElementTree as ET

from twilio.request_validator import RequestValidator

from callbridge.common.models.medium import CallMedium, Provider, TwilioMedium
from callbridge.telephony.errors import InvalidProviderRequest, RequestNotVerified
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
from callbridge.telephony.request import Fields, ProviderRequest
from callbridge.telephony.status import ProviderStatus, dial_status_of, outcome_of, pick_fields
from callbridge.telephony.twilio.credentials import StoredTwilioConfig

SIGNATURE_HEADER = "X-Twilio-Signature"

# §1.1: StreamEvent of the <Stream statusCallback>; CallStatus of a number's call status callback.
STREAM_ENDED = frozenset({"stream-stopped"})
STREAM_FAILED = frozenset({"stream-error"})
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "canceled"})
CALL_FAILED = frozenset({"failed"})
STATUS_FIELDS = (
    "AccountSid",
    "CallSid",
    "CallStatus",
    "StreamSid",
    "StreamName",
    "StreamEvent",
    "StreamError",
    "Timestamp",
)


def verify_signature(
    auth_token: str, url: str, form: Fields | Mapping[str, str], signature: str | None
) -> bool:
    """Reference §5.1: HMAC-SHA1 over the URL and the sorted form parameters, with and without the
    default port (the official SDK's validator, which also handles ``bodySHA256`` JSON requests)."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, form, signature))


def check_account(request: ProviderRequest, config: StoredTwilioConfig, *, required: bool) -> None:
    """A request about another account's call is refused, even if that account's token signed it the same
    (two imports of one token); a status callback may leave ``AccountSid`` out, an incoming call may not."""
    account_sid = request.field("AccountSid")
    if account_sid != config.account_sid and (required or account_sid is not None):
        raise RequestNotVerified("AccountSid does not match the imported Twilio account")


def incoming_call(request: ProviderRequest, config: StoredTwilioConfig) -> IncomingCall:
    check_account(request, config, required=True)
    return call_from_fields(request, "CallSid", account_id=config.account_sid)


def connect_stream_twiml(
    stream_url: str, parameters: Mapping[str, str], *, status_callback: str | None = None
) -> str:
    """``<Connect><Stream>`` then ``<Hangup/>``: when our side closes the stream, Twilio runs the next
    verb, and ``<Hangup/>`` ends the call rather than leaving it in silence (reference §1.1).

    ``status_callback`` receives ``stream-started``/``stream-stopped``/``stream-error``, so a call whose
    media socket died still ends with the right reason."""
    response = ET.Element("Response")
    connect = ET.SubElement(response, "Connect")
    attributes = {"url": stream_url}
    if status_callback is not None:
        attributes["statusCallback"] = status_callback
    stream = ET.SubElement(connect, "Stream", attributes)
    for name, value in parameters.items():
        ET.SubElement(stream, "Parameter", {"name": name, "value": value})
    ET.SubElement(response, "Hangup")
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def stream_twiml(target: StreamTarget) -> str:
    """The TwiML that streams a call to ``target``: the answer to an incoming call, and the inline
    ``Twiml`` of an outbound one (twilio/dialing.py)."""
    return connect_stream_twiml(
        target.join_url, {"callId": str(target.call_id)}, status_callback=target.status_callback_url
    )


class TwilioStreamPlan(StreamPlan):
    """Twilio streams μ-law at 8 kHz, always: nothing to choose but the template's DTMF handling."""

    def answer(self, target: StreamTarget) -> AnswerDocument:
        return AnswerDocument(stream_twiml(target), XML_MEDIA_TYPE)


def plan_stream(template: CallMedium | None) -> TwilioStreamPlan:
    chosen = TwilioMedium.model_validate(template_settings(template, Provider.TWILIO))
    return TwilioStreamPlan(medium_of(Provider.TWILIO, chosen))


def parse_status(request: ProviderRequest) -> ProviderStatus:
    """A stream status callback (``StreamEvent``) or a call status callback (``CallStatus``)."""
    stream_event = request.field("StreamEvent")
    fields = pick_fields(request.flat_fields(), STATUS_FIELDS)
    if stream_event is not None:
        return ProviderStatus(
            status=stream_event,
            outcome=outcome_of(stream_event, STREAM_ENDED, STREAM_FAILED),
            provider_call_id=request.field("CallSid"),
            detail=request.field("StreamError"),
            fields=fields,
        )
    call_status = request.field("CallStatus")
    if call_status is None:
        raise InvalidProviderRequest("Twilio status callback without StreamEvent or CallStatus")
    return ProviderStatus(
        status=call_status,
        outcome=outcome_of(call_status, CALL_ENDED, CALL_FAILED),
        provider_call_id=request.field("CallSid"),
        fields=fields,
        dial_status=dial_status_of(call_status),
    )
