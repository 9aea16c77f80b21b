"""A call's record and events as the media service changes them: claim on join, details on start, end."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from callbridge.common.call_control import CallControlPublisher, ColdTransfer
from callbridge.common.call_listing import CallListing
from callbridge.common.call_records import finish_call
from callbridge.common.capacity import CapacityLedger
from callbridge.common.events import CallEvent, CallJoined
from callbridge.common.models.call import Call, EndReason, ProviderDetails
from callbridge.common.models.medium import CallMedium
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import WarmTransfer, WarmTransferDecided
from callbridge.media.outbox import EventOutbox

logger = logging.getLogger(__name__)


class CallUnavailableError(Exception):
    """The call cannot be joined: it ended, or somebody joined it already (join URLs are single-use)."""


class CallLifecycle:
    def __init__(
        self,
        calls: KvStore[Call],
        listing: CallListing,
        outbox: EventOutbox,
        replica: str,
        *,
        capacity: CapacityLedger | None = None,
        call_control: CallControlPublisher | None = None,
    ) -> None:
        """``capacity``: where an ended call gives its provider account's slot back; ``call_control``:
        where the agent's transfers go to the transfer service."""
        self._calls = calls
        self._call_control = call_control
        self._listing = listing
        self._capacity = capacity
        self._outbox = outbox
        self.replica = replica

    async def claim(self, call_id: UUID) -> Call:
        """Mark the call joined, atomically: of two sockets racing for one join URL, one wins."""
        now = datetime.now(UTC)

        def join(call: Call) -> Call:
            if call.ended is not None:
                raise CallUnavailableError(f"call {call_id} has ended ({call.end_reason})")
            if call.joined is not None:
                raise CallUnavailableError(f"call {call_id} was joined already; join URLs are single-use")
            return call.model_copy(update={"joined": now})

        return (await self._calls.mutate(str(call_id), join)).value

    async def started(self, call: Call, details: ProviderDetails) -> Call:
        """Record the provider's identifiers from the stream's start and announce the join."""

        def merge(current: Call) -> Call:
            known = current.provider_details
            merged = (
                details
                if known is None
                else known.model_copy(update=details.model_dump(exclude_none=True, by_alias=False))
            )
            # A call created without a medium learns its provider from the stream.
            medium = current.medium or CallMedium.for_provider(details.provider)
            return current.model_copy(update={"provider_details": merged, "medium": medium})

        updated = (await self._calls.mutate(str(call.call_id), merge)).value
        self.publish(
            CallJoined(
                call_id=call.call_id, provider_details=updated.provider_details, media_replica=self.replica
            )
        )
        return updated

    async def end(
        self,
        call_id: UUID,
        reason: EndReason,
        *,
        detail: str | None = None,
        rejected_frames: int = 0,
        provider_errors: int = 0,
        agent_messages_rejected: int = 0,
        by_provider: bool = False,
    ) -> bool:
        """Make the record final and publish ``ended`` with the call's counts; False if it had ended."""
        ended = await finish_call(
            self._calls,
            self._listing,
            call_id,
            reason,
            detail=detail,
            rejected_frames=rejected_frames,
            capacity=self._capacity,
        )
        if ended is None:
            return False
        if provider_errors or agent_messages_rejected or by_provider:
            ended = ended.model_copy(
                update={
                    "provider_errors": provider_errors,
                    "agent_messages_rejected": agent_messages_rejected,
                    "by_provider": by_provider,
                }
            )
        self.publish(ended)
        logger.info("call %s ended: %s%s", call_id, reason, f" ({detail})" if detail else "")
        return True

    async def request_call_control(self, command: ColdTransfer | WarmTransfer | WarmTransferDecided) -> None:
        """Publish a call-control command for the transfer service (JetStream: kept until one takes it)."""
        if self._call_control is None:
            raise RuntimeError("this media replica publishes no call-control commands")
        await self._call_control.publish(command)

    async def ensure_listed(self, call: Call) -> None:
        """An ended call whose ender died before entering it in the ended listings is entered now."""
        await self._listing.repair(call)

    def publish(self, event: CallEvent) -> None:
        """Queue the event for publishing in order (see outbox.py); never waits on NATS."""
        self._outbox.emit(event)
