"""The call definition (``POST /api/calls``), agent call requests, and the ``Call`` object."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from callbridge.common.durations import Duration
from callbridge.common.models.backend import (
    AgentBackend,
    AgentBackendPublic,
    StoredAgentBackend,
    demo_backend,
)
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.callbacks import (
    CallbackDeliveries,
    CallbacksCreate,
    CallbacksPublic,
    SealedCallbacks,
)
from callbridge.common.models.conversation import (
    AgentFirstSpeaker,
    FirstSpeakerSettings,
    SelectedTool,
    TimedMessage,
    VadSettings,
)
from callbridge.common.models.json_values import JsonObject, JsonObjectList, StringMap
from callbridge.common.models.medium import CallMedium, DtmfHandling, Provider
from callbridge.common.models.sealing import Encrypt
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
    """Why a call ended: nobody joined in time, the caller or provider hung up, the agent hung up,
    ``maxDuration`` was reached, the agent or the stream failed, or callbridge failed; for an outbound
    call that never connected: the callee was busy, did not answer, the dial failed (``endDetail`` says
    why), or the call was hung up while it rang."""

    UNJOINED = "unjoined"
    HANGUP = "hangup"
    AGENT_HANGUP = "agent_hangup"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    SYSTEM_ERROR = "system_error"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    DIAL_FAILED = "dial_failed"
    CANCELED = "canceled"
    TRANSFERRED = "transferred"
    """Put through to another number or SIP URI (a cold transfer), or joined to the human a warm transfer
    reached (both calls of it end so): the provider stopped the stream."""


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    reserved = [key for key in value if key.startswith(("ultravox.", "callbridge."))]
    if reserved:
        raise ValueError(f"metadata keys may not start with 'ultravox.' or 'callbridge.': {reserved}")
    return value


_AGENT_READS = " Stored for your agent to read (``GET /api/calls/{callId}``)."


class CallFields(ApiModel):
    """The fields shared by a call definition and an agent's call template, but ``agentBackend``, whose
    header values are in the clear in a request and sealed once stored."""

    system_prompt: str | None = Field(
        default=None,
        description="Instructions for the agent's model; ``{{var}}`` placeholders are filled from "
        "templateContext." + _AGENT_READS,
    )
    temperature: float | None = Field(
        default=None, ge=0.0, le=1.0, description="The model's temperature, 0 to 1." + _AGENT_READS
    )
    model: str | None = Field(default=None, description="The model your agent should use." + _AGENT_READS)
    voice: str | None = Field(
        default=None, description="The voice your agent should speak with." + _AGENT_READS
    )
    language_hint: str | None = Field(
        default=None,
        max_length=16,
        description="A BCP 47 language tag such as ``en-US``; placeholders are filled." + _AGENT_READS,
    )
    initial_messages: JsonObjectList | None = Field(
        default=None,
        description="The conversation so far (Ultravox Message objects), at most 32 levels deep and 256 KiB "
        "as JSON." + _AGENT_READS,
    )
    join_timeout: Duration | None = Field(
        default=None,
        description='How long the provider\'s media stream has to connect, such as ``"30s"`` (the default); '
        "then the call ends as ``unjoined``.",
    )
    max_duration: Duration | None = Field(
        default=None,
        description='How long the call may last, ``"3600s"`` by default; then it ends as ``timeout``.',
    )
    time_exceeded_message: str | None = Field(
        default=None,
        description="What the agent is told to say when maxDuration is reached, before the call ends; "
        "placeholders are filled.",
    )
    inactivity_messages: list[TimedMessage] | None = Field(
        default=None,
        description="What the agent says when the line has been silent, in order, each ``duration`` after "
        "the previous one; any activity of the caller starts the list again; each may hang up after it is "
        "said (``endBehavior``). Placeholders are filled.",
    )
    selected_tools: list[SelectedTool] | None = Field(
        default=None,
        description="Tools the agent may invoke; only the built-ins callbridge executes itself are supported "
        'yet: ``{"toolName": "hangUp"}``, ``{"toolName": "leaveVoicemail"}``, '
        '``{"toolName": "playDtmfSounds"}`` and ``{"toolName": "coldTransfer"}``.',
    )
    medium: CallMedium | None = Field(
        default=None,
        description="The telephony provider and its settings (key handling, codec and rate); with "
        "``outgoing``, callbridge places the call itself.",
    )
    recording_enabled: bool | None = Field(
        default=None, description="Not supported yet: leave it out or false."
    )
    first_speaker_settings: FirstSpeakerSettings | None = Field(
        default=None,
        description='Who speaks first: ``{"agent": {...}}`` (the default, with ``delay``, ``text``, '
        '``prompt``, ``uninterruptible``) or ``{"user": {"fallback": {...}}}``, the caller, heard by '
        "media's voice activity detector.",
    )
    vad_settings: VadSettings | None = Field(
        default=None,
        description="How media's voice activity detector hears the caller while deciding who speaks first."
        + _AGENT_READS,
    )
    metadata: StringMap | None = Field(
        default=None,
        description="Your own string keys and values (keys may not start with ``ultravox.`` or "
        "``callbridge.``), at most 256 KiB as JSON.",
    )
    initial_state: JsonObject | None = Field(
        default=None,
        description="The call's initial state, at most 32 levels deep and 256 KiB as JSON." + _AGENT_READS,
    )

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


_AGENT_BACKEND = (
    "Which agent speaks on the call: your WebSocket server, or the built-in ``echo`` or ``demo`` agent "
    "(the default). A WebSocket agent's header values are write-only: answers show headerValuePrefixes."
)


_CALLBACKS = (
    "The call's own callbacks: ``joined`` and ``ended``, each ``{url, secrets}``, POSTed "
    '``{"event", "call"}`` and signed as account webhooks are. Secrets are write-only: answers show '
    "secretPrefixes. ``billed`` is not supported (callbridge does not bill calls)."
)


class CallSettings(CallFields):
    """Call fields as a request gives them."""

    agent_backend: AgentBackend | None = Field(default=None, description=_AGENT_BACKEND)
    callbacks: CallbacksCreate | None = Field(default=None, description=_CALLBACKS)

    def sealed(self, encrypt: Encrypt) -> SealedCallSettings:
        """The same settings with the agent's header values and the callbacks' secrets sealed, ready to
        become a stored call."""
        fields = {name: getattr(self, name) for name in CallFields.model_fields}
        backend = None if self.agent_backend is None else self.agent_backend.seal(encrypt)
        callbacks = None if self.callbacks is None else self.callbacks.seal(encrypt)
        return SealedCallSettings.model_validate({**fields, "agent_backend": backend, "callbacks": callbacks})


class SealedCallSettings(CallFields):
    """Call fields with the agent's header values and callback secrets sealed: what a call is created
    from."""

    agent_backend: StoredAgentBackend | None = Field(default=None, description=_AGENT_BACKEND)
    callbacks: SealedCallbacks | None = Field(default=None, description=_CALLBACKS)


def _doc(name: str) -> str | None:
    """A call field's description, written once on CallSettings."""
    return CallSettings.model_fields[name].description


def _override(name: str) -> str:
    return f"Overrides the agent template's {to_camel(name)}: {_doc(name)}"


class CallCreate(CallSettings):
    """A call from a full definition (``POST /api/calls``)."""

    @model_validator(mode="after")
    def _supported(self) -> CallCreate:
        refuse_unsupported(self)
        return self


class AgentCallCreate(ApiModel):
    """A call from an agent (``POST /api/agents/{agentId}/calls``): the values for the template's
    placeholders, and per-call overrides of the template."""

    template_context: JsonObject = Field(
        default_factory=dict,
        description="Values for the template's ``{{var}}`` placeholders (``{{user.name}}`` reads "
        '``{"user": {"name": …}}``), at most 32 levels deep and 256 KiB as JSON.',
    )
    initial_messages: JsonObjectList | None = Field(default=None, description=_override("initial_messages"))
    metadata: StringMap | None = Field(default=None, description=_override("metadata"))
    medium: CallMedium | None = Field(default=None, description=_override("medium"))
    join_timeout: Duration | None = Field(default=None, description=_override("join_timeout"))
    max_duration: Duration | None = Field(default=None, description=_override("max_duration"))
    recording_enabled: bool | None = Field(default=None, description=_override("recording_enabled"))
    first_speaker_settings: FirstSpeakerSettings | None = Field(
        default=None, description=_override("first_speaker_settings")
    )
    voice: str | None = Field(default=None, description=_override("voice"))
    agent_backend: AgentBackend | None = Field(default=None, description=_override("agent_backend"))
    callbacks: CallbacksCreate | None = Field(default=None, description=_override("callbacks"))

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
    """The provider carrying the call."""
    call_id: str | None = Field(
        default=None,
        description="The provider's call id: Twilio CallSid, Telnyx call_control_id, Plivo CallUUID, "
        "Exotel CallSid.",
    )
    stream_id: str | None = Field(default=None, description="The provider's id of the media stream.")
    account_id: str | None = None
    """The provider account the call belongs to."""
    from_: str | None = Field(
        default=None, alias="from", description="The calling number, as the provider gave it."
    )
    to: str | None = None
    """The called number, as the provider gave it."""
    media_format: str | None = Field(default=None, description="Codec and rate from the stream's start.")


class CallOrigin(ApiModel):
    """What created the call when it was not a request of its own: a scheduled batch's call."""

    batch_id: UUID | None = None
    """The scheduled batch the call was placed for."""
    scheduled_call_id: UUID | None = None
    """The batch's scheduled call this call is an attempt of."""
    attempt: int = Field(default=1, ge=1, le=100)
    """Which attempt of that scheduled call this is (1 is the first)."""


class DialStatus(enum.StrEnum):
    """An outbound call's progress at the provider, in terms every provider's callbacks map onto."""

    DIALING = "dialing"
    """callbridge sent the create-call request (not a provider callback)."""
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    CANCELED = "canceled"
    COMPLETED = "completed"


class DialStatusEntry(ApiModel):
    """One step of an outbound call's progress, as the provider reported it."""

    status: DialStatus
    """The step, in callbridge's terms."""
    provider_status: str = Field(max_length=64)
    """The provider's own word for it (``no-answer``, ``call.answered``, ``ring``, …)."""
    at: datetime
    """When callbridge recorded it (UTC)."""
    detail: str | None = Field(default=None, max_length=256)
    """What else the provider said (a hang-up cause, an error)."""


MAX_DIAL_STATUSES = 32
"""An outbound call records at most this many steps (a provider repeating itself cannot grow the record)."""


class CallHangUp(ApiModel):
    """The answer to ``POST /api/calls/{callId}/hang_up``."""

    call_id: UUID
    """The call being hung up."""
    ended: bool
    """``true``: nobody had joined the call, and it has ended. ``false``: the media replica holding its
    stream ends it once the agent's audio already sent has played (at most 10 s); the call's ``ended``
    event and record say when."""


class CallPublic(StoredModel):
    """A call, its definition and what happened to it so far, as the API answers it and ``created``
    events carry it: no header values, and a ``joinUrl`` only in the answer to the request that created
    the call (the join token is a credential)."""

    call_id: UUID
    """The call's id."""
    agent_id: UUID | None = None
    """The agent the call was started from; null for a call from a full definition."""
    created: datetime
    """When the call was created (UTC)."""
    joined: datetime | None = None
    """When the provider's media stream connected; null until then."""
    ended: datetime | None = None
    """When the call ended; null while it goes on."""
    end_reason: EndReason | None = None
    """Why the call ended; null while it goes on."""
    end_detail: Annotated[str | None, AfterValidator(bounded_detail)] = Field(
        default=None,
        description="Why the call ended, in words (the agent that could not be reached, the provider's "
        f"error), at most {MAX_END_DETAIL_CHARS} characters; null while the call goes on.",
        json_schema_extra={"maxLength": MAX_END_DETAIL_CHARS},
    )
    join_url: str | None = None
    """The signed, expiring, single-use WebSocket URL of the call's media stream: point the provider's
    stream at it. Only in the answer to the request that created the call; null when read later."""
    direction: Literal["inbound", "outbound"] = "inbound"
    """``inbound`` (the provider brought the call to callbridge) or ``outbound``."""
    system_prompt: str | None = Field(default=None, description=_doc("system_prompt"))
    temperature: float | None = Field(default=None, description=_doc("temperature"))
    model: str | None = Field(default=None, description=_doc("model"))
    voice: str | None = Field(default=None, description=_doc("voice"))
    language_hint: str | None = Field(default=None, description=_doc("language_hint"))
    initial_messages: JsonObjectList | None = Field(default=None, description=_doc("initial_messages"))
    join_timeout: Duration = Field(default=DEFAULT_JOIN_TIMEOUT, description=_doc("join_timeout"))
    max_duration: Duration = Field(default=DEFAULT_MAX_DURATION, description=_doc("max_duration"))
    time_exceeded_message: str | None = Field(default=None, description=_doc("time_exceeded_message"))
    inactivity_messages: list[TimedMessage] | None = Field(
        default=None, description=_doc("inactivity_messages")
    )
    selected_tools: list[SelectedTool] = Field(default_factory=list, description=_doc("selected_tools"))
    medium: CallMedium | None = Field(
        default=None,
        description="The provider carrying the call; null: media recognises it from the stream's start.",
    )
    recording_enabled: bool = Field(default=False, description=_doc("recording_enabled"))
    first_speaker_settings: FirstSpeakerSettings = Field(
        default_factory=lambda: FirstSpeakerSettings(agent=AgentFirstSpeaker()),
        description=_doc("first_speaker_settings"),
    )
    vad_settings: VadSettings | None = Field(default=None, description=_doc("vad_settings"))
    metadata: StringMap = Field(default_factory=dict, description=_doc("metadata"))
    initial_state: JsonObject = Field(default_factory=dict, description=_doc("initial_state"))
    template_context: JsonObject = Field(
        default_factory=dict, description="The template context the call was started with."
    )
    agent_backend: AgentBackendPublic = Field(default_factory=demo_backend, description=_AGENT_BACKEND)
    callbacks: CallbacksPublic | None = Field(default=None, description=_CALLBACKS)
    callback_deliveries: CallbackDeliveries = Field(
        default_factory=CallbackDeliveries,
        description="How each of the call's callbacks is being delivered: status (pending, delivered, "
        "given_up), failed attempts and recent failures; null for a callback not attempted yet.",
    )
    provider_details: ProviderDetails | None = Field(
        default=None, description="The provider's identifiers for the call, filled in as they become known."
    )
    trace_context: dict[str, str] = Field(
        default_factory=dict,
        description="W3C trace context (traceparent) of the request that created the call: the media "
        "service continues that trace, so a call is one trace from webhook to hang-up.",
    )
    origin: CallOrigin | None = Field(
        default=None, description="The scheduled batch call this call was placed for; null otherwise."
    )
    dial_statuses: list[DialStatusEntry] = Field(
        default_factory=list,
        max_length=MAX_DIAL_STATUSES,
        description="An outbound call's progress at the provider, each step once, oldest first: "
        "``dialing`` when callbridge asked the provider, then what the provider's status callbacks said.",
    )
    transfer_of: UUID | None = Field(
        default=None,
        description="A warm transfer's second leg: the call whose caller is offered to this call's callee "
        "(its agent briefs them; key 1 or ``acceptTransfer`` accepts, key 2 or ``declineTransfer`` "
        "declines).",
    )

    @property
    def dtmf_handling(self) -> DtmfHandling:
        return self.medium.dtmf_handling if self.medium is not None else DtmfHandling()

    @property
    def is_active(self) -> bool:
        return self.ended is None

    def join_deadline(self) -> datetime:
        return self.created + self.join_timeout


class Call(CallPublic):
    """A call as KV stores it: the agent's header values and callback secrets sealed, and no join URL (it
    is signed again from the call id and join deadline when the creating request is asked again)."""

    agent_backend: StoredAgentBackend = Field(default_factory=demo_backend, description=_AGENT_BACKEND)
    callbacks: SealedCallbacks | None = Field(default=None, description=_CALLBACKS)
    dial_claimed_attempt: int = 0
    """The highest dial attempt a dialer has claimed (compare-and-set): a redelivered request for an attempt
    at or below it is not dialed again. Not shown by the API."""

    def public(self, *, join_url: str | None = None) -> CallPublic:
        """What the API and events show; ``join_url`` only for the answer to the creating request."""
        fields = {name: getattr(self, name) for name in CallPublic.model_fields}
        fields.update(
            agent_backend=self.agent_backend.public(),
            callbacks=None if self.callbacks is None else self.callbacks.public(),
            join_url=join_url,
        )
        return CallPublic.model_validate(fields)


class CallPage(ApiModel):
    """A page of calls, newest first, with the URLs of the pages around it."""

    results: list[CallPublic]
    """The calls on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the previous page; null on the first."""
    total: int
    """How many calls there are in all."""
