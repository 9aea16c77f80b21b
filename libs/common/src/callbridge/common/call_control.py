"""Call-control commands: a cold transfer, keys pressed out of band, and hanging up the provider's call,
carried out by the transfer service against the provider's REST API.

They come from the API (``POST /api/calls/{callId}/transfer`` and ``/send_dtmf``), from the agent's tools
(through media) and from the transfer service itself (the provider hang-up after a call ends on callbridge's
side). Each is published to the ``CALLBRIDGE_CALL_CONTROL`` work-queue stream with its ``commandId`` as the
idempotency key (work_queues.py) and claimed by compare-and-set of that id in the ``callbridge_call_control``
bucket before anything is sent, so a command delivered twice is carried out once. Its outcome is a call event
(``transfer``, ``dtmf_sent``, ``provider.hang_up``: events.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Final, Literal, Self
from uuid import UUID, uuid4, uuid5

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from opentelemetry import propagate
from pydantic import ConfigDict, Field, HttpUrl, TypeAdapter, field_validator, model_validator

from callbridge.common import subjects
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.medium import E164_PATTERN
from callbridge.common.work_queues import ensure_stream, publish_command, work_queue_config

CALL_CONTROL_MAX_AGE: Final = timedelta(hours=1)
"""A command nobody took within an hour is dropped: the call it was for has long changed."""
CALL_CONTROL_DUPLICATE_WINDOW: Final = timedelta(minutes=10)
CLAIM_TTL: Final = timedelta(days=1)
"""How long a claimed command's id is kept: longer than the stream keeps the command."""
SIP_URI_PATTERN: Final = r"^sips?:[^\s<>\"'@]{1,128}@[A-Za-z0-9.\-\[\]:]{1,128}(;[^\s<>\"']{0,256})?$"
SIP_HEADER_NAME_PATTERN: Final = r"^X-[A-Za-z0-9-]{1,64}$"
MAX_EXTRA_HEADERS: Final = 16
MAX_HEADER_VALUE_CHARS: Final = 256
DTMF_DIGITS_PATTERN: Final = r"^[0-9*#A-DwW]{1,64}$"
MIN_TONE_S, MAX_TONE_S = 0.1, 0.5
"""The key lengths a provider that takes one accepts (Telnyx ``duration_millis`` 100-500)."""
if TYPE_CHECKING:
    from callbridge.common.warm_transfer import WarmTransfer, WarmTransferDecided

_TARGET = re.compile(f"({E164_PATTERN})|({SIP_URI_PATTERN})")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")
_HANG_UP_NAMESPACE: Final = UUID("6f1d3c52-7a43-4f0e-9d0b-2c7a0c9f6a51")


class ColdTransferRequest(ApiModel):
    """``POST /api/calls/{callId}/transfer``: put the caller through to ``target``; the agent leaves."""

    target: str = Field(
        max_length=400, description="Where the caller goes: an E.164 number (+15551234567) or a SIP URI."
    )
    extra_headers: dict[str, str] = Field(
        default_factory=dict,
        description="SIP headers (``X-…``) sent with a transfer to a SIP URI (Twilio as the URI's query, "
        "Telnyx ``custom_headers``, Plivo ``sipHeaders``); refused with a number, which carries none.",
    )
    hold_music_url: HttpUrl | None = Field(
        default=None,
        description="Music the caller hears while the target rings: Plivo only (``dialMusic``); refused "
        "on the other providers, which have no such option for a cold transfer.",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, target: str) -> str:
        if not _TARGET.fullmatch(target):
            raise ValueError("target must be an E.164 number (+15551234567) or a SIP URI (sip:user@host)")
        return target

    @field_validator("extra_headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        if len(headers) > MAX_EXTRA_HEADERS:
            raise ValueError(f"at most {MAX_EXTRA_HEADERS} extraHeaders")
        for name, value in headers.items():
            if not re.fullmatch(SIP_HEADER_NAME_PATTERN, name):
                raise ValueError(f"extraHeaders: {name[:70]!r} is not an X- header name (X-Letters-Digits)")
            if len(value) > MAX_HEADER_VALUE_CHARS or not _HEADER_VALUE.fullmatch(value):
                raise ValueError(
                    f"extraHeaders.{name}: at most {MAX_HEADER_VALUE_CHARS} printable ASCII characters"
                )
        return headers

    @model_validator(mode="after")
    def _headers_for_sip(self) -> Self:
        if self.extra_headers and not self.is_sip:
            raise ValueError("extraHeaders are sent with a transfer to a SIP URI only; leave them out")
        return self

    @property
    def is_sip(self) -> bool:
        return self.target.lower().startswith(("sip:", "sips:"))


class SendDtmfRequest(ApiModel):
    """``POST /api/calls/{callId}/send_dtmf``: press keys on the call, out of band."""

    digits: str = Field(
        pattern=DTMF_DIGITS_PATTERN,
        description="The keys: 0-9, *, #, A-D; w pauses 0.5 s and W 1 s. At most 64.",
    )
    tone_duration: float | None = Field(
        default=None,
        ge=MIN_TONE_S,
        le=MAX_TONE_S,
        description="Each key's length in seconds (0.1 to 0.5): Telnyx only; the provider's default "
        "when left out. Plivo chooses the length itself and refuses it.",
    )


class CommandAccepted(ApiModel):
    """A call-control command was accepted: its outcome comes as a call event
    (``GET /api/calls/{callId}/events``) naming this ``commandId``."""

    call_id: UUID
    """The call the command acts on."""
    command_id: UUID
    """The command's id: its outcome event (``transfer``, ``dtmf_sent``) carries it as ``commandId``."""
    command: str
    """What was asked: ``cold_transfer`` or ``send_dtmf``."""


Origin = Literal["api", "agent", "callbridge"]


class _Envelope(StoredModel):
    model_config = ConfigDict(frozen=True)

    command_id: UUID = Field(default_factory=uuid4)
    call_id: UUID
    origin: Origin = "api"
    invocation_id: str | None = Field(default=None, max_length=200)
    """The agent's tool invocation, for a command from a tool."""

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class ColdTransfer(ColdTransferRequest, _Envelope):
    model_config = ConfigDict(frozen=True, extra="ignore")
    command: Literal["cold_transfer"] = "cold_transfer"


class SendDtmf(SendDtmfRequest, _Envelope):
    model_config = ConfigDict(frozen=True, extra="ignore")
    command: Literal["send_dtmf"] = "send_dtmf"

    @property
    def tone_ms(self) -> int | None:
        return None if self.tone_duration is None else round(self.tone_duration * 1000)


class ProviderHangUp(_Envelope):
    """End the provider's call through its REST API (the call ended on callbridge's side)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    command: Literal["provider_hang_up"] = "provider_hang_up"

    @classmethod
    def after_end(cls, call_id: UUID) -> ProviderHangUp:
        """The one hang-up of an ended call: its id is derived from the call's, so an ``ended`` event seen
        twice asks once."""
        return cls(call_id=call_id, command_id=uuid5(_HANG_UP_NAMESPACE, str(call_id)), origin="callbridge")


CallControlCommand = Annotated[ColdTransfer | SendDtmf | ProviderHangUp, Field(discriminator="command")]
COMMANDS: TypeAdapter[CallControlCommand] = TypeAdapter(CallControlCommand)


class CommandClaim(StoredModel):
    """A command taken by a transfer replica (key: its ``commandId``)."""

    command: str
    body: str = Field(default="", max_length=32_000)
    """The command as published (JSON): webhooks reads a Plivo transfer's target from it. A warm transfer's
    texts (its prompt template and context, at most 12,000 characters) may double when escaped in JSON: the
    limit holds them."""
    claimed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    released: bool = False
    """Given back after a failure worth another try (the provider was unavailable): the next delivery may
    claim it again."""


def call_control_stream_config(replicas: int = 1) -> StreamConfig:
    return work_queue_config(
        subjects.CALL_CONTROL_STREAM,
        [subjects.CALL_CONTROL_WILDCARD],
        max_age=CALL_CONTROL_MAX_AGE,
        duplicate_window=CALL_CONTROL_DUPLICATE_WINDOW,
        replicas=replicas,
    )


async def ensure_call_control_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create (or update) the call-control stream with ``replicas`` copies."""
    await ensure_stream(js, call_control_stream_config(replicas))


class CallControlPublisher:
    """Publishes call-control commands, de-duplicated by their ``commandId``."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(
        self,
        command: ColdTransfer | SendDtmf | ProviderHangUp | WarmTransfer | WarmTransferDecided,
        *,
        trace_context: Mapping[str, str] | None = None,
    ) -> None:
        """``trace_context``: the call's (``Call.trace_context``), for a command asked for outside the call's
        own work (an API request on a live call), so that carrying it out is part of the call's one trace;
        None: the current span's."""
        await publish_command(
            self._js,
            subjects.call_control(command.command),
            subjects.CALL_CONTROL_STREAM,
            str(command.command_id),
            command.to_json(),
            context=propagate.extract(dict(trace_context)) if trace_context else None,
        )
