"""What a Plivo outbound call asks for (reference §3.5): ``POST /v1/Account/{auth_id}/Call/`` whose
``answer_url`` is callbridge's (it answers the signed request with the call's ``<Stream>`` XML, built as for
an incoming call), with the ring and hang-up callbacks posted to callbridge.

Pure: no HTTP here (rest.py sends it), so the webhooks service can check ``additionalParams`` at call
creation.
"""

from __future__ import annotations

from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.telephony.rest.client import DialRequest
from callbridge.telephony.rest.params import check_additional_params, form_value

RESERVED_PARAMS = frozenset(
    {
        "from",
        "to",
        "answer_url",
        "answer_method",
        "ring_url",
        "ring_method",
        "hangup_url",
        "hangup_method",
    }
)
"""What callbridge sets on every call: ``additionalParams`` may not. ``ring_timeout`` too when the dial gives
a ring timeout."""
RING_TIMEOUT_PARAM = "ring_timeout"


def reserved_params(request: DialRequest) -> frozenset[str]:
    if request.ring_timeout_s is None:
        return RESERVED_PARAMS
    return RESERVED_PARAMS | {RING_TIMEOUT_PARAM}


def dial_body(request: DialRequest) -> dict[str, Any]:
    """The Call API's JSON body: callbridge's fields, then ``additionalParams`` as given."""
    check_additional_params(Provider.PLIVO, request.additional_params, reserved_params(request))
    for name, value in request.additional_params.items():
        form_value(Provider.PLIVO, name, value)
    body: dict[str, Any] = {
        "from": request.from_,
        "to": request.to,
        "answer_url": request.answer_url,
        "answer_method": "POST",
        "ring_url": request.status_callback_url,
        "ring_method": "POST",
        "hangup_url": request.status_callback_url,
        "hangup_method": "POST",
    }
    if request.ring_timeout_s is not None:
        body[RING_TIMEOUT_PARAM] = request.ring_timeout_s
    return {**body, **request.additional_params}
