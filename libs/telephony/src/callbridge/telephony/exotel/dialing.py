"""What an Exotel outbound call asks for: Connect Voice AI (reference §4.1), ``POST
/v1/Accounts/{sid}/Calls/connect`` with ``StreamType=bidirectional`` and ``StreamUrl`` (the join URL at the
call's rate, ``?sample-rate=``, as for an incoming call). Exotel dials ``From`` (the callee) and shows
``CallerId`` (your ExoPhone); on answer it opens the stream, and when the stream closes the call ends.

Exotel's documents disagree on the spelling (``StreamUrl`` in its announcement and the reference, lower case
``streamurl`` in its newer guide, which also says parameter names are case-insensitive there); this sends
the documented capitalised form, as its classic Calls API is written. ``StatusCallbackEvents[]`` asks for
``ringing``, ``answered`` and ``terminal`` (the guide's list; the older StatusCallback page names only
``terminal`` and ``answered``).

Pure: no HTTP here (rest.py sends it), so the webhooks service can check ``additionalParams`` at call
creation.
"""

from __future__ import annotations

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import InvalidDialRequest
from callbridge.telephony.exotel.credentials import StoredExotelConfig
from callbridge.telephony.exotel.webhooks import DEFAULT_SAMPLE_RATE_HZ, stream_url_at_rate
from callbridge.telephony.rest.client import DialRequest
from callbridge.telephony.rest.params import check_additional_params, form_value

STREAM_TYPE = "bidirectional"
STATUS_CALLBACK_EVENTS = ("ringing", "answered", "terminal")
SAMPLE_RATES_HZ = frozenset({8000, 16000, 24000})
MAX_STREAM_URL_CHARS = 600  # Exotel's limit on streamurl (its AgentStream developer guide)
RESERVED_PARAMS = frozenset(
    {
        "From",
        "To",
        "CallerId",
        "Url",
        "StreamType",
        "StreamUrl",
        "StatusCallback",
        "StatusCallbackEvents",
    }
)
"""What callbridge sets on every call (``To`` and ``Url`` would turn it into another kind of call):
``additionalParams`` may not. ``TimeOut`` too when the dial gives a ring timeout."""
RING_TIMEOUT_PARAM = "TimeOut"


def reserved_params(request: DialRequest) -> frozenset[str]:
    if request.ring_timeout_s is None:
        return RESERVED_PARAMS
    return RESERVED_PARAMS | {RING_TIMEOUT_PARAM}


def dial_form(request: DialRequest, config: StoredExotelConfig) -> list[tuple[str, str]]:
    """The form fields, a name repeated for each value of a list, then ``additionalParams``."""
    check_additional_params(Provider.EXOTEL, request.additional_params, reserved_params(request))
    rate_hz = request.sample_rate_hz or config.sample_rate or DEFAULT_SAMPLE_RATE_HZ
    if rate_hz not in SAMPLE_RATES_HZ:
        raise InvalidDialRequest(Provider.EXOTEL, f"Exotel streams at 8000, 16000 or 24000 Hz, not {rate_hz}")
    stream_url = stream_url_at_rate(request.join_url, rate_hz)
    if len(stream_url) > MAX_STREAM_URL_CHARS:
        raise InvalidDialRequest(
            Provider.EXOTEL,
            f"the stream URL has {len(stream_url)} characters; Exotel takes at most {MAX_STREAM_URL_CHARS}",
        )
    form = [
        ("From", request.to),
        ("CallerId", request.from_),
        ("StreamType", STREAM_TYPE),
        ("StreamUrl", stream_url),
        ("StatusCallback", request.status_callback_url),
        *(("StatusCallbackEvents[]", event) for event in STATUS_CALLBACK_EVENTS),
    ]
    if request.ring_timeout_s is not None:
        form.append((RING_TIMEOUT_PARAM, str(request.ring_timeout_s)))
    for name, value in request.additional_params.items():
        form.extend((name, text) for text in form_value(Provider.EXOTEL, name, value))
    return form
