"""Twilio's side of the incoming-call webhook: signature verification and the TwiML answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from callbridge.common.templating import lookup, set_dotted

SIGNATURE_HEADER = "X-Twilio-Signature"


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


def map_request_context(form: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """Map webhook fields into the template context.

    ``{"From": "user.phone_number"}`` turns ``From=+1555…`` into ``{"user": {"phone_number": "+1555…"}}``.
    """
    context: dict[str, Any] = {}
    for source, target in mapping.items():
        try:
            value = lookup(dict(form), source) if "." in source else form[source]
        except KeyError:
            continue
        set_dotted(context, target, value)
    return context


def connect_stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """``<Connect><Stream>`` then ``<Hangup/>``: when our side closes the stream, Twilio runs the next
    verb, and ``<Hangup/>`` ends the call rather than leaving it in silence (reference §1.1)."""
    response = ET.Element("Response")
    connect = ET.SubElement(response, "Connect")
    stream = ET.SubElement(connect, "Stream", {"url": stream_url})
    for name, value in parameters.items():
        ET.SubElement(stream, "Parameter", {"name": name, "value": value})
    ET.SubElement(response, "Hangup")
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def reject_twiml() -> str:
    """What Twilio plays when we refuse a call: a rejection, so the caller hears busy, not silence."""
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="rejected"/></Response>'
