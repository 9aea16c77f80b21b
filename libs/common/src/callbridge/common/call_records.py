"""Changes to a call's record that more than one service makes: ending it, exactly once, and giving its
provider account's slot back."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from callbridge.common.call_listing import CallListing
from callbridge.common.capacity import CapacityLedger
from callbridge.common.events import CallEnded
from callbridge.common.models.call import (
    MAX_DIAL_STATUSES,
    Call,
    DialStatusEntry,
    EndReason,
    ProviderDetails,
    bounded_detail,
)
from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore, UnchangedError


async def finish_call(
    calls: KvStore[Call],
    listing: CallListing,
    call_id: UUID,
    reason: EndReason,
    *,
    detail: str | None = None,
    rejected_frames: int = 0,
    unless_joined: bool = False,
    capacity: CapacityLedger | None = None,
) -> CallEnded | None:
    """Make the record final with ``reason`` and ``detail`` (compare-and-set: the first to end a call wins).

    Returns the ``ended`` event to publish, or None when the call had ended already (or, with
    ``unless_joined``, had been joined: its media replica ends it). The call is then entered in the ended
    listings (call_listing.py) and, with ``capacity``, its slot of the provider account is released (a slot
    a dead replica failed to release is swept by the dialer).
    """
    now = datetime.now(UTC)
    ended_here = False

    def finish(call: Call) -> Call:
        nonlocal ended_here
        if call.ended is not None or (unless_joined and call.joined is not None):
            raise UnchangedError
        ended_here = True
        return call.model_copy(
            update={"ended": now, "end_reason": reason, "end_detail": bounded_detail(detail)}
        )

    final = (await calls.mutate(str(call_id), finish)).value
    if not ended_here:
        return None
    await listing.ended(final)
    if capacity is not None:
        provider = call_provider(final)
        if provider is not None:
            await capacity.release(provider.value, [call_id])
    duration_ms = None if final.joined is None else round((now - final.joined).total_seconds() * 1000)
    return CallEnded(
        call_id=call_id,
        end_reason=reason,
        duration_ms=duration_ms,
        detail=detail,
        rejected_frames=rejected_frames,
    )


def call_provider(call: Call) -> Provider | None:
    """The provider whose account carries the call: its medium's, else the one that brought it."""
    if call.medium is not None:
        return call.medium.provider
    if call.provider_details is not None:
        return call.provider_details.provider
    return None


async def record_dial_status(
    calls: KvStore[Call],
    call_id: UUID,
    entry: DialStatusEntry,
    *,
    provider: Provider | None = None,
    provider_call_id: str | None = None,
) -> tuple[Call, bool]:
    """Add ``entry`` to the call's ``dialStatuses`` unless that status is there already (a provider that
    reports a step twice is counted once), and note ``provider_call_id`` if the record lacks one (Plivo's
    call UUID first comes with its callbacks; ``provider`` makes the details when there are none yet).
    Returns the record and whether the step is new."""
    added = False

    def record(call: Call) -> Call:
        nonlocal added
        added = False
        update: dict[str, object] = {}
        known = {step.status for step in call.dial_statuses}
        if entry.status not in known and len(call.dial_statuses) < MAX_DIAL_STATUSES:
            update["dial_statuses"] = [*call.dial_statuses, entry]
            added = True
        details = call.provider_details
        if provider_call_id and details is not None and details.call_id is None:
            update["provider_details"] = details.model_copy(update={"call_id": provider_call_id})
        elif provider_call_id and details is None and provider is not None:
            # A callback before the dialer heard back from its dial (or after a dial it never heard back
            # from): the provider's id is what hanging the call up later needs.
            update["provider_details"] = ProviderDetails(provider=provider, call_id=provider_call_id)
        if not update:
            raise UnchangedError
        return call.model_copy(update=update)

    final = (await calls.mutate(str(call_id), record)).value
    return final, added
