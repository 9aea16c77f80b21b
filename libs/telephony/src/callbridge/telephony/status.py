"""A provider's status callback in terms every provider maps onto: what it says, and what it means for the
call (it goes on, it ended, it failed)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from callbridge.common.models.call import DialStatus

MAX_FIELD_CHARS = 256


class StatusOutcome(enum.Enum):
    PROGRESS = "progress"
    """Informational (stream started, ringing, answered): the call goes on."""
    ENDED = "ended"
    """The stream or the call is over in the ordinary way: the call ends as ``hangup``."""
    FAILED = "failed"
    """The stream failed or dropped: the call ends as ``connection_error``."""


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    status: str
    outcome: StatusOutcome
    provider_call_id: str | None
    detail: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    dial_status: DialStatus | None = None
    """The call's progress in callbridge's terms (ringing, answered, busy, …) when the callback is about
    the call rather than its stream: what an outbound call records and ends by."""


def pick_fields(source: Mapping[str, object], names: Iterable[str]) -> dict[str, str]:
    """The named fields the callback carries, as short strings, for the ``provider.status`` event."""
    picked: dict[str, str] = {}
    for name in names:
        value = source.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            picked[name] = str(value)[:MAX_FIELD_CHARS]
    return picked


def outcome_of(status: str, ended: Iterable[str], failed: Iterable[str]) -> StatusOutcome:
    if status in failed:
        return StatusOutcome.FAILED
    if status in ended:
        return StatusOutcome.ENDED
    return StatusOutcome.PROGRESS


CALL_STATUS_WORDS: Mapping[str, DialStatus] = {
    "initiated": DialStatus.INITIATED,
    "ringing": DialStatus.RINGING,
    "ring": DialStatus.RINGING,
    "in-progress": DialStatus.ANSWERED,
    "answered": DialStatus.ANSWERED,
    "completed": DialStatus.COMPLETED,
    "busy": DialStatus.BUSY,
    "no-answer": DialStatus.NO_ANSWER,
    "timeout": DialStatus.NO_ANSWER,
    "failed": DialStatus.FAILED,
    "canceled": DialStatus.CANCELED,
    "cancel": DialStatus.CANCELED,
}
"""The call status words Twilio, TeXML, Plivo and Exotel share (each provider's reference §1-§4): Plivo says
``cancel`` and ``timeout``, Exotel ``in-progress`` on answer; ``queued`` says nothing new."""


def dial_status_of(word: str | None) -> DialStatus | None:
    return None if word is None else CALL_STATUS_WORDS.get(word.lower())
