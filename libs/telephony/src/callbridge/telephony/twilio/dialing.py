"""What a Twilio outbound call asks for (reference §1.4): ``POST …/Accounts/{sid}/Calls.json`` with the
stream's TwiML inline (the TwiML an incoming call is answered with: ``<Connect><Stream>`` then
``<Hangup/>``), the call's progress posted to callbridge, and the caller's ``additionalParams``.

Pure: no SDK here, so the webhooks service can check ``additionalParams`` at call creation without importing
the REST client (rest.py sends it).
"""

from __future__ import annotations

from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.telephony.incoming import StreamTarget
from callbridge.telephony.rest.client import DialRequest
from callbridge.telephony.rest.params import check_additional_params, form_value
from callbridge.telephony.twilio.webhooks import stream_twiml

STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
"""Every call progress event Twilio posts (``StatusCallbackEvent``); without them only ``completed``."""
RESERVED_PARAMS = frozenset(
    {
        "To",
        "From",
        "Twiml",
        "Url",
        "Method",
        "ApplicationSid",
        "StatusCallback",
        "StatusCallbackEvent",
        "StatusCallbackMethod",
    }
)
"""What callbridge sets on every call (``Url``, ``Method`` and ``ApplicationSid`` would replace the stream's
TwiML): ``additionalParams`` may not. ``Timeout`` too when the dial gives a ring timeout."""
RING_TIMEOUT_PARAM = "Timeout"


def reserved_params(request: DialRequest) -> frozenset[str]:
    if request.ring_timeout_s is None:
        return RESERVED_PARAMS
    return RESERVED_PARAMS | {RING_TIMEOUT_PARAM}


def dial_params(request: DialRequest) -> dict[str, Any]:
    """The Calls API's parameters, in Twilio's names, without ``additionalParams`` (checked here, mapped
    onto the SDK's arguments by rest.py)."""
    check_additional_params(Provider.TWILIO, request.additional_params, reserved_params(request))
    for name, value in request.additional_params.items():
        form_value(Provider.TWILIO, name, value)
    target = StreamTarget(request.call_id, request.join_url, request.status_callback_url)
    params: dict[str, Any] = {
        "To": request.to,
        "From": request.from_,
        "Twiml": stream_twiml(target),
        "StatusCallback": request.status_callback_url,
        "StatusCallbackMethod": "POST",
        "StatusCallbackEvent": list(STATUS_CALLBACK_EVENTS),
    }
    if request.ring_timeout_s is not None:
        params[RING_TIMEOUT_PARAM] = request.ring_timeout_s
    return params
