"""The call definition (``POST /api/calls``), agent call requests, and the ``Call`` object."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, field_validator, model_validator

from callbridge.common.durations import Duration
from callbridge.common.models.backend import AgentBackend
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.json_values import JsonObject, JsonObjectList, StringMap
from callbridge.common.models.medium import CallMedium, DtmfHandling, Provider
from callbridge.common.models.supported import refuse_unsupported

DEFAULT_JOIN_TIMEOUT = timedelta(seconds=30)
DEFAULT_MAX_DURATION = timedelta(seconds=3600)
MAX_END_DETAIL_CHARS = 500


def bounded_detail(detail: str | None) -> str | None:
    """``detail`` cut to MAX_END_DETAIL_CHARS (ending in an ellipsis when cut)."""
    if detail is None or len(detail) <= MAX_END_DETAIL_CHARS:
        return detail
    return detail[: MAX_END_DETAIL_CHARS - 1] + "…"


class EndReason(enum.StrEnum):
    """Ultravox's end reasons, lower-case as in the Call object."""

    UNJOINED = "unjoined"
    HANGUP = "hangup"
    AGENT_HANGUP = "agent_hangup"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    SYSTEM_ERROR = "system_error"


class AgentFirstSpeaker(ApiModel):
    uninterruptible: bool = False
    text: str | None = None
    prompt: str | None = None
    delay: Duration | None = None


class UserFallback(ApiModel):
    delay: Duration | None = None
    text: str | None = None
    prompt: str | None = None


class UserFirstSpeaker(ApiModel):
    fallback: UserFallback | None = None


class FirstSpeakerSettings(ApiModel):
    agent: AgentFirstSpeaker | None = None
    user: UserFirstSpeaker | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FirstSpeakerSettings:
        if (self.agent is None) == (self.user is None):
            raise ValueError("firstSpeakerSettings must set exactly one of 'agent' or 'user'")
        return self


class VadSettings(ApiModel):
    """Accepted and stored; passed on to agents that run their own VAD."""

    turn_endpoint_delay: Duration | None = None
    minimum_turn_duration: Duration | None = None
    minimum_interruption_duration: Duration | None = None
    frame_activation_threshold: float | None = Field(default=None, ge=0.1, le=1.0)


class EndBehavior(enum.StrEnum):
    UNSPECIFIED = "END_BEHAVIOR_UNSPECIFIED"
    HANG_UP_SOFT = "END_BEHAVIOR_HANG_UP_SOFT"
    HANG_UP_STRICT = "END_BEHAVIOR_HANG_UP_STRICT"


class TimedMessage(ApiModel):
    duration: Duration
    message: str
    end_behavior: EndBehavior = EndBehavior.UNSPECIFIED


class SelectedTool(ApiModel):
    """Stored as given; callbridge executes the telephony built-ins (``hangUp``) itself."""

    tool_id: str | None = None
    tool_name: str | None = None
    temporary_tool: JsonObject | None = None
    name_override: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description_override: str | None = None
    auth_tokens: StringMap | None = None
    parameter_overrides: JsonObject | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectedTool:
        chosen = [v for v in (self.tool_id, self.tool_name, self.temporary_tool) if v is not None]
        if len(chosen) != 1:
            raise ValueError("a selected tool sets exactly one of toolId, toolName, temporaryTool")
        return self


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    reserved = [key for key in value if key.startswith(("ultravox.", "callbridge."))]
    if reserved:
        raise ValueError(f"metadata keys may not start with 'ultravox.' or 'callbridge.': {reserved}")
    return value


class CallSettings(ApiModel):
    """The fields shared by a call definition and an agent's call template (Ultravox §1.1)."""

    system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    model: str | None = None
    voice: str | None = None
    language_hint: str | None = Field(default=None, max_length=16)
    initial_messages: JsonObjectList | None = None
    join_timeout: Duration | None = None
    max_duration: Duration | None = None
    time_exceeded_message: str | None = None
    inactivity_messages: list[TimedMessage] | None = None
    selected_tools: list[SelectedTool] | None = None
    medium: CallMedium | None = None
    recording_enabled: bool | None = None
    first_speaker_settings: FirstSpeakerSettings | None = None
    vad_settings: VadSettings | None = None
    metadata: StringMap | None = None
    initial_state: JsonObject | None = None
    agent_backend: AgentBackend | None = None

    @field_validator("join_timeout", "max_duration")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration such as '30s'")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_metadata(value)


class CallCreate(CallSettings):
    """Body of ``POST /api/calls``."""

    @model_validator(mode="after")
    def _supported(self) -> CallCreate:
        refuse_unsupported(self)
        return self


class AgentCallCreate(ApiModel):
    """Body of ``POST /api/agents/{agent_id}/calls``: template context plus per-call overrides."""

    template_context: JsonObject = Field(default_factory=dict)
    initial_messages: JsonObjectList | None = None
    metadata: StringMap | None = None
    medium: CallMedium | None = None
    join_timeout: Duration | None = None
    max_duration: Duration | None = None
    recording_enabled: bool | None = None
    first_speaker_settings: FirstSpeakerSettings | None = None
    voice: str | None = None
    agent_backend: AgentBackend | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_metadata(value)

    @model_validator(mode="after")
    def _supported(self) -> AgentCallCreate:
        refuse_unsupported(self)
        return self


class ProviderDetails(ApiModel):
    """The provider's identifiers for this call, filled in as they become known."""

    provider: Provider
    call_id: str | None = Field(default=None, description="Twilio CallSid.")
    stream_id: str | None = Field(default=None, description="Twilio StreamSid.")
    account_id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    media_format: str | None = Field(default=None, description="Codec and rate from the stream's start.")


class Call(StoredModel):
    """A call as the API returns it and KV stores it."""

    call_id: UUID
    agent_id: UUID | None = None
    created: datetime
    joined: datetime | None = None
    ended: datetime | None = None
    end_reason: EndReason | None = None
    end_detail: Annotated[str | None, AfterValidator(bounded_detail)] = Field(
        default=None,
        description="Why the call ended, in words (the agent that could not be reached, the provider's "
        f"error), at most {MAX_END_DETAIL_CHARS} characters; null while the call goes on.",
        json_schema_extra={"maxLength": MAX_END_DETAIL_CHARS},
    )
    join_url: str | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    system_prompt: str | None = None
    temperature: float | None = None
    model: str | None = None
    voice: str | None = None
    language_hint: str | None = None
    initial_messages: JsonObjectList | None = None
    join_timeout: Duration = DEFAULT_JOIN_TIMEOUT
    max_duration: Duration = DEFAULT_MAX_DURATION
    time_exceeded_message: str | None = None
    inactivity_messages: list[TimedMessage] | None = None
    selected_tools: list[SelectedTool] = Field(default_factory=list)
    medium: CallMedium | None = Field(
        default=None,
        description="The provider carrying the call; null: media recognises it from the stream's start.",
    )
    recording_enabled: bool = False
    first_speaker_settings: FirstSpeakerSettings = Field(
        default_factory=lambda: FirstSpeakerSettings(agent=AgentFirstSpeaker())
    )
    vad_settings: VadSettings | None = None
    metadata: StringMap = Field(default_factory=dict)
    initial_state: JsonObject = Field(default_factory=dict)
    template_context: JsonObject = Field(default_factory=dict)
    agent_backend: AgentBackend = Field(default_factory=lambda: AgentBackend.model_validate({"demo": {}}))
    provider_details: ProviderDetails | None = None
    trace_context: dict[str, str] = Field(
        default_factory=dict,
        description="W3C trace context (traceparent) of the request that created the call: the media "
        "service continues that trace, so a call is one trace from webhook to hang-up.",
    )

    @property
    def dtmf_handling(self) -> DtmfHandling:
        return self.medium.dtmf_handling if self.medium is not None else DtmfHandling()

    @property
    def is_active(self) -> bool:
        return self.ended is None

    def join_deadline(self) -> datetime:
        return self.created + self.join_timeout


class CallPage(ApiModel):
    """A page of calls, paginated the way Ultravox paginates: ``results`` plus ``next``/``previous`` URLs."""

    results: list[Call]
    next: str | None = None
    previous: str | None = None
    total: int
