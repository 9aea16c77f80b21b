"""The scheduler's decision for one scheduled call at one moment: place it now, wait (until when), expire
it, or leave it (placed, waiting for its outcome; done). Pure: a function of the call, its batch and the
time, so the rules are tested without NATS and every replica decides alike."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from callbridge.common.calling_hours import next_opening
from callbridge.common.models.batch import ScheduledCall, ScheduledCallStatus, StoredBatch


class Action(enum.Enum):
    PLACE = "place"
    WAIT = "wait"
    EXPIRE = "expire"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    until: datetime | None = None
    """For WAIT: when to look again."""
    reason: str | None = None


def decide(call: ScheduledCall, batch: StoredBatch, now: datetime) -> Decision:
    if call.status is not ScheduledCallStatus.FUTURE:
        return Decision(Action.NONE)
    end = batch.window_end
    if end is not None and now >= end:
        return Decision(Action.EXPIRE, reason=_expired(call, end))
    earliest = now
    if call.next_attempt_at is not None and call.next_attempt_at > earliest:
        earliest = call.next_attempt_at
    zone = ZoneInfo(call.time_zone or batch.time_zone)
    opening = next_opening(
        earliest, zone=zone, hours=batch.hours, window_start=batch.window_start, window_end=end
    )
    if opening is None:  # no opening before the window closes: look again when it has closed
        return Decision(Action.WAIT, until=end, reason="no calling hours left in the window")
    if opening > now:
        return Decision(Action.WAIT, until=opening)
    if batch.paused or batch.deleted:
        return Decision(Action.WAIT, reason="paused")
    return Decision(Action.PLACE)


def _expired(call: ScheduledCall, end: datetime) -> str:
    tried = f" after {len(call.attempts)} attempt(s)" if call.attempts else ""
    return f"the window closed at {end.isoformat()}{tried} before the call could be placed"
