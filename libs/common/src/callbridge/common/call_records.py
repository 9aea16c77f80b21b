"""Changes to a call's record that more than one service makes: ending it, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from callbridge.common.call_listing import CallListing
from callbridge.common.events import CallEnded
from callbridge.common.models.call import Call, EndReason, bounded_detail
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
) -> CallEnded | None:
    """Make the record final with ``reason`` and ``detail`` (compare-and-set: the first to end a call wins).

    Returns the ``ended`` event to publish, or None when the call had ended already (or, with
    ``unless_joined``, had been joined: its media replica ends it). The call is then entered in the ended
    listings (call_listing.py).
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
    duration_ms = None if final.joined is None else round((now - final.joined).total_seconds() * 1000)
    return CallEnded(
        call_id=call_id,
        end_reason=reason,
        duration_ms=duration_ms,
        detail=detail,
        rejected_frames=rejected_frames,
    )
