"""A call's events as ``GET /api/calls/{callId}/events`` answers them, in Ultravox's CallEvent shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from callbridge.common.events import CallEvent, Severity
from callbridge.common.models.base import ApiModel


class CallEventPublic(ApiModel):
    """One thing that happened on a call."""

    call_id: UUID
    """The call."""
    call_stage_id: UUID
    """The call's stage: a callbridge call has one stage, whose id is the call's."""
    call_timestamp: str
    """When it happened, from the call's creation, in seconds (``"12.345s"``)."""
    wall_clock_timestamp: datetime
    """When it happened (UTC)."""
    severity: Severity
    """``debug``, ``info``, ``warning`` or ``error``."""
    type: str
    """What happened: the event's name (``created``, ``joined``, ``dtmf``, ``transcript``, ``ended``, …), the
    last token of its subject on the events stream."""
    text: str
    """The event in one line a person can read."""
    extras: dict[str, Any]
    """The whole event as published on the events stream (its documented schema)."""

    @classmethod
    def of(cls, event: CallEvent, call_created: datetime) -> CallEventPublic:
        seconds = max(0.0, (event.occurred_at - call_created).total_seconds())
        return cls(
            call_id=event.call_id,
            call_stage_id=event.call_id,
            call_timestamp=f"{seconds:.3f}s",
            wall_clock_timestamp=event.occurred_at,
            severity=event.severity(),
            type=event.EVENT,
            text=event.summary()[:500],
            extras=event.model_dump(mode="json"),
        )


class CallEventPage(ApiModel):
    """A page of a call's events, oldest first."""

    results: list[CallEventPublic]
    """The events on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the first page, on a later page (the cursor only moves forward); null on the first."""
    total: int
    """How many events the call has in the events stream."""
