"""Twilio's side of the webhooks: signature verification, the incoming call's fields, the TwiML answer and
the stream status callback (reference §1.1, §5.1)."""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree import ElementTree as ET

from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from callbridge.webhooks.errors import InvalidRequestError
from callbridge.webhooks.provider_request import ProviderRequest
from callbridge.webhooks.request_context import map_request_context as map_request_context
from callbridge.webhooks.status import ProviderStatus, outcome_of, pick_fields

SIGNATURE_HEADER = "X-Twilio-Signature"
CREDENTIAL_HEADERS = (SIGNATURE_HEADER,)

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


def signed_url(public_base_url: str, path: str, query: str) -> str:
    """The URL Twilio requested, as Twilio saw it: our public base URL, not the one behind a proxy."""
    url = public_base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def verify_signature(auth_token: str, url: str, form: FormData, signature: str | None) -> bool:
    """Reference §5.1: HMAC-SHA1 over the URL and the sorted form parameters, with and without the
    default port (the official SDK's validator, which also handles ``bodySHA256`` JSON requests)."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, form, signature))


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


def reject_twiml() -> str:
    """What Twilio plays when we refuse a call: a rejection, so the caller hears busy, not silence."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>'


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
        raise InvalidRequestError("Twilio status callback without StreamEvent or CallStatus")
    return ProviderStatus(
        status=call_status,
        outcome=outcome_of(call_status, CALL_ENDED, CALL_FAILED),
        provider_call_id=request.field("CallSid"),
        fields=fields,
    )
