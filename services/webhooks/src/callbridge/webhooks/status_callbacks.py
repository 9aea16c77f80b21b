"""Provider status callbacks: verified, published as ``provider.status``, and, when they say the stream or
the call is over, ending the call, so a call whose media socket died still ends with the right reason.

An outbound call's progress (initiated, ringing, answered, busy, no answer, failed, canceled, completed, in
each provider's words) is also recorded on the call's ``dialStatuses`` and published as ``dial.status``,
each step once however often the provider reports it; a call that never connects ends with the reason the
provider gave (``busy``, ``no_answer``, ``dial_failed``, ``canceled``).

Ending is the compare-and-set of ``finish_call``: if media ended the call first, nothing changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from callbridge.common.call_records import finish_call, record_dial_status
from callbridge.common.events import DialStatusChanged, ProviderStatusReceived
from callbridge.common.models.base import ApiModel
from callbridge.common.models.call import Call, DialStatus, DialStatusEntry, EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import provider_call_key
from callbridge.telephony import (
    ProviderApiError,
    ProviderStatus,
    StatusOutcome,
    TelephonyProvider,
    provider_for,
)
from callbridge.telephony.request import ProviderRequest
from callbridge.webhooks.deps import Services
from callbridge.webhooks.errors import ForbiddenError, InvalidRequestError, NotFoundError
from callbridge.webhooks.records import load_call
from callbridge.webhooks.verification import verify_provider_request

logger = logging.getLogger(__name__)


class ProviderStatusReceipt(ApiModel):
    """The answer to a status callback (providers ignore it; it helps whoever reads the logs)."""

    call_id: UUID
    """The call the callback is about."""
    status: str
    """The status the provider reported, in its own words."""
    ended: bool
    """Whether this callback ended the call."""
    end_reason: EndReason | None
    """The call's end reason now, whoever ended it."""


async def receive_status(
    services: Services, provider: Provider, request: ProviderRequest, call_id: UUID | None = None
) -> ProviderStatusReceipt:
    """Handle one callback; ``call_id`` None means: find the call by the provider's call id."""
    plugin = provider_for(provider)
    await verify_provider_request(services, plugin, request)
    status = plugin.parse_status(request)
    if call_id is None:
        call_id = await _find_call_id(services, plugin, status.provider_call_id)
    call = await load_call(services.stores, call_id)
    _check_same_call(call, plugin, status)
    name = plugin.display_name
    progress = None
    if call.direction == "outbound" and status.dial_status is not None:
        call, progress = await _record_progress(services, call, provider, status)
        if progress is None:  # a step reported again: counted once
            return ProviderStatusReceipt(
                call_id=call_id, status=status.status, ended=False, end_reason=call.end_reason
            )
    await services.publisher.publish(
        ProviderStatusReceived(
            call_id=call_id,
            provider=provider,
            status=status.status,
            detail=status.detail,
            fields=status.fields,
        )
    )
    if progress is not None:
        await services.publisher.publish(progress)
    reason = _unconnected_end_reason(call, status.dial_status) if progress is not None else None
    if status.outcome is StatusOutcome.PROGRESS and reason is None:
        return ProviderStatusReceipt(
            call_id=call_id, status=status.status, ended=False, end_reason=call.end_reason
        )
    detail = f"{name} {status.status}" + (f": {status.detail}" if status.detail else "")
    ended = await finish_call(
        services.stores.calls,
        services.stores.call_listing,
        call_id,
        reason or _end_reason(call, status.outcome),
        detail=detail,
        capacity=services.stores.capacity,
    )
    if ended is None:
        final = await load_call(services.stores, call_id)
        return ProviderStatusReceipt(
            call_id=call_id, status=status.status, ended=False, end_reason=final.end_reason
        )
    ended = ended.model_copy(update={"by_provider": True})  # its call is over at the provider already
    await services.publisher.publish(ended)
    logger.info("call %s ended by %s status %s: %s", call_id, name, status.status, ended.end_reason.value)
    return ProviderStatusReceipt(
        call_id=call_id, status=status.status, ended=True, end_reason=ended.end_reason
    )


_NEVER_CONNECTED = {
    DialStatus.BUSY: EndReason.BUSY,
    DialStatus.NO_ANSWER: EndReason.NO_ANSWER,
    DialStatus.FAILED: EndReason.DIAL_FAILED,
    DialStatus.CANCELED: EndReason.CANCELED,
}


_STILL_UP = frozenset({DialStatus.INITIATED, DialStatus.RINGING, DialStatus.ANSWERED})


async def _hang_up_late_call(
    services: Services, call: Call, provider: Provider, provider_call_id: str
) -> None:
    """The provider reports a call going on whose callbridge call has ended (a dial the dialer gave up on
    that went through after all): hang it up, or nobody would."""
    found = await services.rest_clients.client(provider)
    if found is None:
        return
    _, client = found
    try:
        result = await client.hang_up(provider_call_id)
    except ProviderApiError as exc:
        logger.warning("call %s ended; hanging up its %s call failed: %s", call.call_id, provider.value, exc)
        return
    logger.info(
        "call %s ended; its %s call %s: %s", call.call_id, provider.value, provider_call_id, result.value
    )


def _unconnected_end_reason(call: Call, dial_status: DialStatus | None) -> EndReason | None:
    """Why an outbound call the provider never connected ended; None once it was answered or joined (then
    the ordinary reasons apply) or for a step that ends nothing."""
    answered = any(step.status is DialStatus.ANSWERED for step in call.dial_statuses)
    if dial_status is None or answered or call.joined is not None:
        return None
    return _NEVER_CONNECTED.get(dial_status)


async def _record_progress(
    services: Services, call: Call, provider: Provider, status: ProviderStatus
) -> tuple[Call, DialStatusChanged | None]:
    """Record the step on the call; the event to publish, or None when the step was recorded before."""
    assert status.dial_status is not None  # the caller checked
    entry = DialStatusEntry(
        status=status.dial_status,
        provider_status=status.status[:64],
        at=datetime.now(UTC),
        detail=status.detail[:256] if status.detail else None,
    )
    recorded, added = await record_dial_status(
        services.stores.calls,
        call.call_id,
        entry,
        provider=provider,
        provider_call_id=status.provider_call_id,
    )
    if recorded.ended is not None and status.dial_status in _STILL_UP and status.provider_call_id:
        await _hang_up_late_call(services, recorded, provider, status.provider_call_id)
    if not added:
        logger.info(
            "call %s: %s reported %s again: counted once", call.call_id, provider.value, status.status
        )
        return recorded, None
    event = DialStatusChanged(
        call_id=call.call_id,
        status=status.dial_status,
        provider=provider,
        provider_status=status.status[:64],
        detail=status.detail,
        attempt=max(1, recorded.dial_claimed_attempt),
    )
    return recorded, event


def _end_reason(call: Call, outcome: StatusOutcome) -> EndReason:
    # Read before finish_call: a join racing this callback could still be recorded as unjoined, which is
    # what it was from the provider's side (the stream ended before media saw it start).
    if call.joined is None:
        return EndReason.UNJOINED
    return EndReason.CONNECTION_ERROR if outcome is StatusOutcome.FAILED else EndReason.HANGUP


async def _find_call_id(
    services: Services, plugin: TelephonyProvider[Any], provider_call_id: str | None
) -> UUID:
    if provider_call_id is None:
        raise InvalidRequestError(f"{plugin.display_name} status callback names no call")
    found = await services.stores.provider_calls.find(provider_call_key(plugin.provider, provider_call_id))
    if found is None:
        raise NotFoundError(f"no call for {plugin.display_name} call {provider_call_id}")
    return found.value.call_id


def _check_same_call(call: Call, plugin: TelephonyProvider[Any], status: ProviderStatus) -> None:
    """A verified callback may still be about another call of the same account: refuse it. A call
    created through the API learns its provider only when media joins it; before that, anything goes."""
    details = call.provider_details
    if details is None:
        return
    if details.provider is not plugin.provider:
        raise NotFoundError(f"call {call.call_id} is not a {plugin.display_name} call")
    if status.provider_call_id and details.call_id and status.provider_call_id != details.call_id:
        raise ForbiddenError(
            f"the callback is about {plugin.display_name} call {status.provider_call_id}, not this one"
        )
