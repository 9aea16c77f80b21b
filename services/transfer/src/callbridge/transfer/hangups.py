"""Provider calls left up: a call that ends on callbridge's side (the agent's or the API's hang-up after the
goodbye played, ``maxDuration``, nobody joined, canceled while ringing) while its provider call may still be
up is hung up through the provider's REST API as well as by the stream's close, inbound or outbound.

Every ``ended`` event goes to one durable consumer the transfer replicas share; a call the provider ended
(``byProvider``), a transferred one (the provider keeps the call for its new leg: reference §1.4) and one
never placed are left alone. The hang-up itself is a ``ProviderHangUp`` command whose id is derived from the
call's, carried out once by the command worker; every provider's hang-up is idempotent anyway
(``ALREADY_ENDED``: Twilio 404/20404, Telnyx 422/90018, Plivo 404).
"""

from __future__ import annotations

from callbridge.common.call_control import ProviderHangUp
from callbridge.common.events import CallEnded
from callbridge.common.models.call import Call, DialStatus, EndReason

PROVIDER_ENDED = frozenset(
    {DialStatus.COMPLETED, DialStatus.BUSY, DialStatus.NO_ANSWER, DialStatus.FAILED, DialStatus.CANCELED}
)
"""Steps after which the provider's call is over: nothing to hang up."""
NOTHING_LEFT_UP = frozenset(
    {EndReason.DIAL_FAILED, EndReason.BUSY, EndReason.NO_ANSWER, EndReason.TRANSFERRED}
)
"""Never placed, or handed to the transfer's target: hanging it up would cut the transferred caller."""


def provider_call_left_up(call: Call, event: CallEnded) -> str | None:
    """The provider call id to hang up, or None: the provider ended it, it was transferred or never
    placed, or its id is not known."""
    details = call.provider_details
    if event.by_provider or details is None or details.call_id is None:
        return None
    if event.end_reason in NOTHING_LEFT_UP or call.end_reason in NOTHING_LEFT_UP:
        return None
    if any(step.status in PROVIDER_ENDED for step in call.dial_statuses):
        return None
    return details.call_id


def hang_up_command(call: Call, event: CallEnded) -> ProviderHangUp | None:
    """The command that hangs the ended call's provider call up, or None when nothing is left up."""
    if provider_call_left_up(call, event) is None:
        return None
    return ProviderHangUp.after_end(call.call_id)
