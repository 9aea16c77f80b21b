"""Scheduled batches (Ultravox's outbound call scheduler, reference §4) and what callbridge adds to them:
resuming, retries by outcome, callee time zones, calling hours and days, priority, auto-pause.

``ScheduledBatchCreate``/``ScheduledBatchUpdate`` are the request bodies, ``ScheduledBatch`` the answer
and the stored batch record (its webhook secret sealed), ``ScheduledCall`` one call as the API shows it.
A batch's calls are stored apart from it, in chunks (batch_store.py).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from callbridge.common.calling_hours import CallingHours, parse_hours
from callbridge.common.durations import Duration, non_negative
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.json_values import JsonObject, StringMap
from callbridge.common.models.medium import CallMedium

MAX_CALLS_PER_BATCH = 100_000
MAX_WEBHOOK_URL_CHARS = 200
MAX_WEBHOOK_SECRET_CHARS = 120
MIN_WEBHOOK_SECRET_CHARS = 16
DEFAULT_ESTIMATED_CALL_DURATION = timedelta(seconds=60)


class ScheduledCallStatus(enum.StrEnum):
    """Where a scheduled call is: waiting (``FUTURE``, also between retries), placed and not finished
    (``PENDING``), done (``SUCCESS``), its window closed first (``EXPIRED``), or failed for good
    (``ERROR``)."""

    FUTURE = "FUTURE"
    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    EXPIRED = "EXPIRED"
    ERROR = "ERROR"

    @property
    def final(self) -> bool:
        return self in (ScheduledCallStatus.SUCCESS, ScheduledCallStatus.EXPIRED, ScheduledCallStatus.ERROR)


class RetryOutcome(enum.StrEnum):
    """Outcomes of an attempt that may be retried: the callee was busy, did not answer, or the call failed
    (refused by the provider, or answered but never connected to the agent)."""

    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name[:64]!r} is not an IANA time zone such as 'Europe/Paris'") from None
    return name


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be more than 0s")
    return value


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone offset, such as 2026-01-01T09:00:00Z")
    return value


class RetryPolicy(ApiModel):
    """How often a call is tried, after which outcomes, and how long to wait between attempts."""

    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts in all, the first included.")
    retry_on: list[RetryOutcome] = Field(
        default_factory=lambda: list(RetryOutcome),
        max_length=3,
        description="The outcomes that get another attempt: busy, no-answer, failed.",
    )
    backoff: Annotated[Duration, AfterValidator(non_negative)] = Field(
        default=timedelta(seconds=300), description="The wait before the first retry, e.g. '300s'."
    )
    backoff_multiplier: float = Field(
        default=2.0, ge=1.0, le=10.0, description="Each further wait is the previous one times this."
    )

    def delay_before(self, attempt: int) -> timedelta:
        """The wait before attempt number ``attempt`` (2 is the first retry)."""
        return self.backoff * (self.backoff_multiplier ** max(0, attempt - 2))


class CallingHoursSettings(ApiModel):
    """The local times at which calls may be placed, in each callee's time zone."""

    days: list[str] = Field(
        default_factory=lambda: ["MON", "TUE", "WED", "THU", "FRI"],
        min_length=1,
        max_length=7,
        description="Days of the week: MON, TUE, WED, THU, FRI, SAT, SUN.",
    )
    start: str = Field(default="09:00", max_length=16, description="Local time calls may start, '09:00'.")
    end: str = Field(
        default="17:00",
        max_length=16,
        description="Local time no call may start from, '17:00'; before start: the range runs past midnight.",
    )

    @model_validator(mode="after")
    def _parses(self) -> CallingHoursSettings:
        self.hours()
        return self

    def hours(self) -> CallingHours:
        return parse_hours(self.days, self.start, self.end)


class AutoPause(ApiModel):
    """Pause the batch when too many of its recent calls fail."""

    failure_rate: float = Field(
        gt=0.0, le=1.0, description="Pause when this share of the recent attempts failed, e.g. 0.5."
    )
    recent_attempts: int = Field(
        default=20, ge=1, le=100, description="How many of the latest finished attempts are judged."
    )


class ScheduledCallCreate(ApiModel):
    """One call of a batch: who to call and what the agent's template is filled with."""

    medium: CallMedium | None = Field(
        default=None,
        description="The provider and, with ``outgoing``, who to call: callbridge places the call. Without "
        "``outgoing`` the batch's ``webhookUrl`` is told of the created call and places it.",
    )
    template_context: JsonObject = Field(
        default_factory=dict, description="Values for the agent template's ``{{var}}`` placeholders."
    )
    metadata: StringMap | None = Field(default=None, description="The call's metadata.")
    experimental_settings: JsonObject | None = Field(
        default=None, description="Not supported: callbridge has no experimental settings (422 when set)."
    )
    time_zone: TimeZoneName | None = Field(
        default=None,
        description="The callee's IANA time zone, e.g. 'America/Chicago': calling hours are theirs. "
        "Unset: the batch's ``timeZone``.",
    )

    @field_validator("experimental_settings")
    @classmethod
    def _no_experimental_settings(cls, value: dict[str, object] | None) -> None:
        if value is not None:
            raise ValueError("experimentalSettings is not supported: callbridge has none; leave it out")

    @property
    def dials(self) -> bool:
        """Whether callbridge places this call itself (an ``outgoing`` medium)."""
        return self.medium is not None and self.medium.outgoing is not None


class ScheduledBatchCreate(ApiModel):
    """A new batch (``POST /api/agents/{agentId}/scheduled_batches``)."""

    window_start: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None, description="No call starts before this; unset: at once."
    )
    window_end: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None,
        description="No call starts after this; calls not placed by then are EXPIRED. Unset: until done.",
    )
    throttle: str | None = Field(
        default=None,
        max_length=100,
        description="A call throttle's name or id: the batch's calls start no faster than its rules allow.",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=MAX_WEBHOOK_URL_CHARS,
        pattern=r"^https?://[^\s]+$",
        description="Required when a call has no ``outgoing`` medium, refused otherwise: each such call is "
        "created when its turn comes and POSTed here as ``{event: 'call.started', call}``, signed.",
    )
    webhook_secret: str | None = Field(
        default=None,
        min_length=MIN_WEBHOOK_SECRET_CHARS,
        max_length=MAX_WEBHOOK_SECRET_CHARS,
        description="Signs the webhook (HMAC-SHA256, as Ultravox's webhooks); unset: chosen at random. "
        "Write-only: answered as a prefix.",
    )
    paused: bool = Field(default=False, description="Create it paused; PATCH paused=false starts it.")
    priority: int = Field(
        default=0,
        ge=-100,
        le=100,
        description="Higher first: while a batch of higher priority has calls "
        "due on the same provider account, lower ones wait.",
    )
    retry: RetryPolicy | None = Field(default=None, description="Retries by outcome; unset: one attempt.")
    calling_hours: CallingHoursSettings | None = Field(
        default=None, description="When calls may be placed, local to each callee; unset: at any time."
    )
    time_zone: TimeZoneName = Field(
        default="UTC", description="The time zone of callees whose call sets none."
    )
    auto_pause: AutoPause | None = Field(default=None, description="Pause when recent calls fail.")
    estimated_call_duration: Annotated[Duration, AfterValidator(_positive)] = Field(
        default=DEFAULT_ESTIMATED_CALL_DURATION,
        description="How long a call lasts on average: used only to check that the window is long enough.",
    )
    calls: list[ScheduledCallCreate] = Field(
        min_length=1, max_length=MAX_CALLS_PER_BATCH, description="The calls, 1 to 100,000. Write-only."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScheduledBatchCreate:
        if self.window_start and self.window_end and self.window_end <= self.window_start:
            raise ValueError("windowEnd must be after windowStart")
        needs_webhook = [index for index, call in enumerate(self.calls) if not call.dials]
        if needs_webhook and self.webhook_url is None:
            raise ValueError(
                f"webhookUrl is required: calls[{needs_webhook[0]}] has no outgoing medium, so callbridge "
                "tells webhookUrl of it instead of placing it"
            )
        if not needs_webhook and (self.webhook_url is not None or self.webhook_secret is not None):
            raise ValueError(
                "webhookUrl and webhookSecret are only allowed when a call has no outgoing medium"
            )
        return self


class ScheduledBatchUpdate(ApiModel):
    """Changes to a batch (``PATCH``): what is given replaces what was there."""

    paused: bool | None = Field(
        default=None, description="true pauses (calls in progress finish); false resumes."
    )
    priority: int | None = Field(default=None, ge=-100, le=100, description="A new priority.")
    window_end: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None, description="A new end of the window."
    )


class ScheduledBatch(StoredModel):
    """A batch, as the API answers it."""

    batch_id: UUID
    """The batch's id."""
    agent_id: UUID
    """The agent whose template its calls use."""
    created: datetime
    """When it was created (UTC)."""
    window_start: datetime | None = None
    """No call starts before this."""
    window_end: datetime | None = None
    """No call starts after this."""
    throttle: str | None = None
    """The call throttle's name or id."""
    webhook_url: str | None = None
    """Where calls without an ``outgoing`` medium are POSTed."""
    webhook_secret: str | None = None
    """The webhook secret's prefix."""
    paused: bool = False
    """Whether it is paused."""
    paused_reason: str | None = None
    """Why it paused itself (auto-pause); null when paused through the API or running."""
    priority: int = 0
    """Higher first, on a shared provider account."""
    retry: RetryPolicy | None = None
    """Retries by outcome; null: one attempt."""
    calling_hours: CallingHoursSettings | None = None
    """When calls may be placed, local to each callee."""
    time_zone: str = "UTC"
    """The time zone of callees whose call sets none."""
    auto_pause: AutoPause | None = None
    """Pause when recent calls fail."""
    estimated_call_duration: Duration = DEFAULT_ESTIMATED_CALL_DURATION
    """The average call length the window check assumed."""
    total_count: int = 0
    """How many calls it holds."""
    completed_count: int = 0
    """How many are done: SUCCESS, EXPIRED or ERROR."""
    status_counts: dict[ScheduledCallStatus, int] = Field(default_factory=dict)
    """How many calls are in each status."""
    ended_at: datetime | None = None
    """When its last call was done; null while it goes on."""


class StoredBatch(ScheduledBatch):
    """The batch record as KV keeps it: its webhook secret sealed (the answer shows the prefix)."""

    sealed_webhook_secret: str | None = None
    chunk_count: int = 0
    deleted: bool = False

    def public(self) -> ScheduledBatch:
        fields = {name: getattr(self, name) for name in ScheduledBatch.model_fields}
        return ScheduledBatch.model_validate(fields)

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.retry or RetryPolicy(max_attempts=1)

    @property
    def hours(self) -> CallingHours | None:
        return None if self.calling_hours is None else self.calling_hours.hours()


class Attempt(StoredModel):
    """One attempt at a scheduled call."""

    number: int
    """1 for the first attempt."""
    call_id: UUID
    """The call created for it."""
    started: datetime
    """When it was placed."""
    ended: datetime | None = None
    """When its outcome was known."""
    outcome: str | None = None
    """``success``, ``busy``, ``no-answer``, ``failed`` or ``webhook-failed``; null while it goes on."""
    detail: str | None = None
    """The call's end reason or the error, in words."""


class ScheduledCall(StoredModel):
    """One call of a batch, as the API answers it."""

    batch_id: UUID
    """Its batch."""
    index: int
    """Its position in the batch's ``calls``."""
    status: ScheduledCallStatus = ScheduledCallStatus.FUTURE
    """FUTURE, PENDING, SUCCESS, EXPIRED or ERROR."""
    call_id: UUID | None = None
    """The call of its latest attempt."""
    error: str | None = None
    """Why it ended in ERROR or EXPIRED."""
    attempts: list[Attempt] = Field(default_factory=list)
    """Every attempt, oldest first."""
    next_attempt_at: datetime | None = None
    """When the next attempt is due (a retry's backoff); null: as soon as allowed."""
    medium: CallMedium | None = None
    """Who to call."""
    template_context: JsonObject = Field(default_factory=dict)
    """Its template values."""
    metadata: StringMap | None = None
    """Its metadata."""
    experimental_settings: JsonObject | None = None
    """Stored as given."""
    time_zone: str | None = None
    """The callee's time zone."""

    @field_validator("attempts")
    @classmethod
    def _ordered(cls, attempts: list[Attempt]) -> list[Attempt]:
        return sorted(attempts, key=lambda attempt: attempt.number)

    @property
    def dials(self) -> bool:
        return self.medium is not None and self.medium.outgoing is not None

    @property
    def current(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


class ScheduledCallPage(ApiModel):
    """A page of a batch's scheduled calls, in batch order."""

    results: list[ScheduledCall]
    """The calls on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the previous page; null on the first."""
    total: int
    """How many calls match, over every page."""


class ScheduledBatchPage(ApiModel):
    """A page of an agent's batches, newest first."""

    results: list[ScheduledBatch]
    """The batches on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the previous page; null on the first."""
    total: int
    """How many batches the agent has."""


def stored_calls(batch_id: UUID, requests: list[ScheduledCallCreate]) -> list[bytes]:
    """Each call of a batch just validated as ``ScheduledCall`` stores it (a new call: FUTURE, no attempt;
    the defaults are left out and read back as such), serialised by pydantic-core without building a
    ``ScheduledCall`` per call: building and validating 100,000 of them one by one took seconds."""
    prefix = f'{{"batchId":"{batch_id}","index":'.encode()
    stored = []
    for index, call in enumerate(requests):
        body = call.model_dump_json(by_alias=True, exclude_none=True).encode()
        rest = b"}" if body == b"{}" else b"," + body[1:]
        stored.append(prefix + str(index).encode() + rest)
    return stored
