"""Every event callbridge publishes: frozen, with ``eventId``, UTC ``occurredAt`` and the ``callId``.

An event's subject is ``callbridge.calls.<callId>.<EVENT>`` (see :mod:`callbridge.common.subjects`).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import ConfigDict, Field

from callbridge.common import subjects
from callbridge.common.models.base import ApiModel
from callbridge.common.models.call import CallPublic, DialStatus, EndReason, ProviderDetails
from callbridge.common.models.medium import Provider

MAX_TOOL_DETAIL_CHARS = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


class Severity(enum.StrEnum):
    """How much an event matters to someone reading a call's events (Ultravox's call event severities)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class CallEvent(ApiModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT: ClassVar[str]
    SEVERITY: ClassVar[Severity] = Severity.INFO

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utc_now)
    call_id: UUID

    @property
    def subject(self) -> str:
        return subjects.call_event(self.call_id, self.EVENT)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def summary(self) -> str:
        """One line a person can read (the ``text`` of ``GET /api/calls/{id}/events``)."""
        return self.EVENT

    def severity(self) -> Severity:
        return self.SEVERITY


class CallCreated(CallEvent):
    """A call was created. ``call`` is its public form: header names and value prefixes, no join URL
    (events are kept for days and readable by every subscriber; the join token is a credential)."""

    EVENT = "created"
    call: CallPublic


class CallJoined(CallEvent):
    EVENT = "joined"
    provider_details: ProviderDetails | None = None
    media_replica: str

    def summary(self) -> str:
        details = self.provider_details
        media = details.media_format if details else "?"
        return f"joined ({media}, stream {details.stream_id if details else '?'})"


class CallEnded(CallEvent):
    EVENT = "ended"
    end_reason: EndReason
    duration_ms: int | None = Field(default=None, description="From joined to ended; None if never joined.")
    detail: str | None = None
    rejected_frames: int = Field(
        default=0, description="Provider frames that could not be parsed and were skipped."
    )
    provider_errors: int = Field(default=0, description="Errors the provider reported on the media stream.")
    agent_messages_rejected: int = Field(
        default=0, description="Agent data messages that could not be parsed and were skipped."
    )
    by_provider: bool = Field(
        default=False,
        description="The provider ended it (stopped or closed the stream, or reported the call over): "
        "its call is over there already, and callbridge does not hang it up.",
    )

    def summary(self) -> str:
        return f"ended: {self.end_reason} ({self.detail or ''}, {self.duration_ms} ms)"

    def severity(self) -> Severity:
        if self.end_reason is EndReason.SYSTEM_ERROR:
            return Severity.ERROR
        if self.end_reason is EndReason.CONNECTION_ERROR:
            return Severity.WARNING
        return Severity.INFO


class DtmfReceived(CallEvent):
    EVENT = "dtmf"
    digit: str = Field(pattern=r"^[0-9*#A-Da-dw]$")

    def summary(self) -> str:
        return f"caller pressed {self.digit}"


class AgentTranscript(CallEvent):
    EVENT = "transcript"
    role: Literal["user", "agent"]
    text: str | None = None
    delta: str | None = None
    final: bool = False
    ordinal: int | None = None

    def summary(self) -> str:
        return f"{self.role} says: {self.text or self.delta}"


class AgentStateChanged(CallEvent):
    EVENT = "state"
    state: str

    def summary(self) -> str:
        return f"agent is {self.state}"


class PlayoutTruncated(CallEvent):
    """Barge-in: the agent's turn was cut; ``heardMs`` is how much of it the caller actually heard."""

    EVENT = "playout.truncated"
    turn: int
    sent_ms: int
    acknowledged_ms: int = Field(description="Audio whose marks the provider echoed as played.")
    heard_ms: int = Field(description="acknowledgedMs plus what the media clock says played since.")
    dropped_frames: int

    def summary(self) -> str:
        return f"barge-in: turn {self.turn} cut after {self.heard_ms} ms heard ({self.sent_ms} ms sent)"


class AgentToolInvoked(CallEvent):
    EVENT = "tool"
    tool_name: str
    invocation_id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    handled: bool

    def summary(self) -> str:
        return f"agent invoked {self.tool_name}{'' if self.handled else ' (not handled)'}"


class AgentToolAnswered(CallEvent):
    """What an agent's tool invocation came to: the ``client_tool_result`` callbridge answered it with (the
    ``tool`` event with the same ``invocationId`` names the tool)."""

    EVENT = "tool.answered"
    invocation_id: str
    outcome: Literal["result", "error"]
    detail: str = Field(max_length=MAX_TOOL_DETAIL_CHARS)
    """The result, or the error message, cut to 500 characters."""
    response_type: str | None = None
    """``hang-up`` when the call ends with the answer."""

    def summary(self) -> str:
        return f"tool {self.invocation_id} answered ({self.outcome}): {self.detail[:80]}"


class ProviderStreamError(CallEvent):
    """The provider reported an error on the media stream (Telnyx ``error`` frame); the call goes on."""

    EVENT = "provider.stream_error"
    SEVERITY = Severity.WARNING
    code: str
    title: str
    detail: str
    suppressed: int = Field(
        default=0, description="Errors of this call not published since the previous one (rate limit)."
    )

    def summary(self) -> str:
        return f"provider stream error {self.code}: {self.title}"


class ProviderStatusReceived(CallEvent):
    """A provider's status callback about the call or its stream (Twilio stream status, Telnyx
    ``streaming.*``/``call.hangup``, Plivo ``StopStream``/hangup, Exotel status), verified."""

    EVENT = "provider.status"
    provider: Provider
    status: str = Field(description="The provider's own word: stream-stopped, call.hangup, StopStream, …")
    detail: str | None = Field(default=None, description="The provider's error or hang-up cause, if any.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="The callback's identifying fields (ids, event, timestamp)."
    )

    def summary(self) -> str:
        return f"{self.provider.value} callback: {self.status}"


class DialStatusChanged(CallEvent):
    """An outbound call moved on at the provider (dialing, ringing, answered, busy, …); each step of a call
    is published once, however often the provider reports it."""

    EVENT = "dial.status"
    status: DialStatus
    provider: Provider
    provider_status: str = Field(description="The provider's own word: no-answer, call.answered, ring, …")
    detail: str | None = None
    attempt: int = 1

    def summary(self) -> str:
        said = f"{self.provider.value} {self.provider_status}"
        return f"dial: {self.status} ({said}{', ' + self.detail if self.detail else ''})"


class MediaFormatNotice(CallEvent):
    """Media settled a point the provider leaves undocumented, differently from its configuration
    (e.g. Telnyx L16 found little-endian): the call goes on with what was found."""

    EVENT = "media.format_notice"
    SEVERITY = Severity.WARNING
    detail: str

    def summary(self) -> str:
        return f"media format: {self.detail}"


class MediaFramesRejected(CallEvent):
    """Provider frames could not be parsed and were skipped. Rate-limited per call: ``count`` is this frame
    and those rejected since the previous event (the call's total is on ``ended``); ``detail`` is this
    frame's."""

    EVENT = "media.rejected"
    SEVERITY = Severity.WARNING
    count: int
    detail: str

    def summary(self) -> str:
        return f"{self.count} provider frame(s) rejected: {self.detail}"


class CallTransferred(CallEvent):
    """The outcome of a transfer. Cold (``kind: cold``): the provider took it (``transferred``; the stream
    stops and the call ends as ``transferred``) or not (``failed``, ``detail`` says why; the call goes on with
    the agent). Warm (``kind: warm``), each step: ``dialing`` (the human's leg ``legCallId`` was placed),
    then ``transferred`` (the human accepted: the provider joined the two calls) or ``returned`` (the caller
    is back with the agent; ``reason``: ``declined``, ``no_answer``, ``busy``, ``voicemail``, ``caller_left``
    or ``failed``)."""

    EVENT = "transfer"
    command_id: UUID
    outcome: Literal["transferred", "failed", "dialing", "returned"]
    target: str
    provider: Provider | None = None
    origin: str = "api"
    detail: str | None = None
    kind: Literal["cold", "warm"] = "cold"
    reason: str | None = None
    leg_call_id: UUID | None = None

    def summary(self) -> str:
        if self.outcome == "transferred":
            return f"transferred to {self.target}"
        if self.outcome == "dialing":
            return f"warm transfer: calling {self.target} (call {self.leg_call_id})"
        if self.outcome == "returned":
            return f"warm transfer to {self.target} ended ({self.reason}): the caller is back with the agent"
        return f"transfer to {self.target} failed: {self.detail or ''}"

    def severity(self) -> Severity:
        return Severity.WARNING if self.outcome == "failed" else Severity.INFO


class DtmfSent(CallEvent):
    """The outcome of keys pressed out of band through the provider's API."""

    EVENT = "dtmf_sent"
    command_id: UUID
    outcome: Literal["sent", "failed"]
    digits: str
    provider: Provider | None = None
    origin: str = "api"
    detail: str | None = None

    def summary(self) -> str:
        if self.outcome == "sent":
            return f"sent keys {self.digits}"
        return f"sending keys {self.digits} failed: {self.detail or ''}"

    def severity(self) -> Severity:
        return Severity.INFO if self.outcome == "sent" else Severity.WARNING


class ProviderCallHungUp(CallEvent):
    """The provider's call was hung up through its REST API after the call ended on callbridge's side
    (``hung_up``), had ended there already (``already_ended``), or could not be (``failed``,
    ``no_credentials``)."""

    EVENT = "provider.hang_up"
    command_id: UUID
    provider: Provider
    result: Literal["hung_up", "already_ended", "failed", "no_credentials"]
    detail: str | None = None

    def summary(self) -> str:
        return f"{self.provider.value} call hang-up: {self.result}{': ' + self.detail if self.detail else ''}"

    def severity(self) -> Severity:
        return Severity.WARNING if self.result in ("failed", "no_credentials") else Severity.INFO


EVENT_TYPES: tuple[type[CallEvent], ...] = (
    CallCreated,
    CallJoined,
    CallEnded,
    DtmfReceived,
    AgentTranscript,
    AgentStateChanged,
    PlayoutTruncated,
    AgentToolInvoked,
    AgentToolAnswered,
    ProviderStatusReceived,
    MediaFramesRejected,
    ProviderStreamError,
    MediaFormatNotice,
    DialStatusChanged,
    CallTransferred,
    DtmfSent,
    ProviderCallHungUp,
)
EVENT_BY_NAME: dict[str, type[CallEvent]] = {cls.EVENT: cls for cls in EVENT_TYPES}


def parse_event(subject: str, data: bytes) -> CallEvent:
    """Decode an event from its subject's last part and its JSON body."""
    name = subject.split(".", 3)[3] if subject.count(".") >= 3 else ""
    try:
        cls = EVENT_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown event subject {subject!r}") from None
    return cls.model_validate_json(data)
