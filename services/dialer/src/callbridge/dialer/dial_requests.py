"""The DialRequest of an outbound call: its numbers, the URLs the provider needs, its audio, the caller's
``additionalParams`` and how long the callee's phone may ring."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from callbridge.common.models.call import Call
from callbridge.dialer.urls import DialUrls
from callbridge.telephony import DialRequest, provider_for

MIN_RING_TIMEOUT_S = 5
MAX_RING_TIMEOUT_S = 600
RING_MARGIN_S = 2
"""The callee's phone rings until shortly before the join deadline, so an unanswered call ends as
``no_answer`` (the provider's word) rather than ``unjoined``."""


def dial_request(call: Call, urls: DialUrls, status_url: str) -> DialRequest:
    """``status_url``: the call's status callback URL as this provider must be given it."""
    medium = call.medium
    if medium is None or medium.outgoing is None:
        raise ValueError(f"call {call.call_id} has no outgoing medium")
    provider = medium.provider
    settings = medium.settings
    outgoing = medium.outgoing
    codec = getattr(settings, "codec", None)
    rate_hz = getattr(settings, "sample_rate", None)
    caller_rings = provider_for(provider).sets_ring_timeout(outgoing.additional_params)
    return DialRequest(
        call_id=call.call_id,
        to=outgoing.to,
        from_=outgoing.from_,
        join_url=urls.join_url(call),
        status_callback_url=status_url,
        answer_url=urls.answer_url(call.call_id, provider),
        codec=None if codec is None else str(codec),
        sample_rate_hz=rate_hz,
        additional_params=dict(outgoing.additional_params),
        ring_timeout_s=None if caller_rings else ring_timeout_s(call),
    )


def ring_timeout_s(call: Call) -> int:
    remaining_s = (call.join_deadline() - datetime.now(UTC)).total_seconds()
    ring_s = math.floor(remaining_s) - RING_MARGIN_S
    return max(MIN_RING_TIMEOUT_S, min(MAX_RING_TIMEOUT_S, ring_s))
