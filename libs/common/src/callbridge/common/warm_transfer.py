"""Warm transfers: the agent's ``warmTransfer`` tool puts the caller on hold, a second callbridge call (the
*leg*) rings the human, the agent briefs them there, and they accept or decline.

The caller's call (the *first* call) stays on its media stream while on hold: media plays hold music and
keeps the agent's audio back. The transfer service carries out the provider side in steps, each a
call-control command claimed once (call_control.py): ``WarmTransfer`` places the leg (an outbound call of
the same provider account and agent backend, whose ``transferOf`` names the first call);
``WarmTransferDecided`` ends it, from the leg's key (1 accept, 2 decline) or its agent's ``acceptTransfer``
/ ``declineTransfer`` tool (through media), or from the leg's or the first call's end (the transfer
service's ended consumer). The transfer's state lives in the ``callbridge_call_control`` bucket
(``warm.<first call id>``), moved on by compare-and-set, so the first decision wins and a later one is a
no-op.

On accept the provider joins the two calls (Twilio: both updated into one ``<Conference>``; Telnyx
``actions/bridge``; Plivo: both transferred to a conference XML webhooks serves), both streams end and both
calls end as ``transferred``. On any other outcome the leg is hung up and the caller returns to the agent,
whose tool result carries the typed reason.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Final, Literal
from uuid import UUID, uuid5

from pydantic import ConfigDict, Field, HttpUrl, TypeAdapter, field_validator

from callbridge.common.call_control import (
    SIP_URI_PATTERN,
    ColdTransfer,
    ProviderHangUp,
    SendDtmf,
    _Envelope,
)
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.medium import E164_PATTERN

WARM_TRANSFER_TOOL: Final = "warmTransfer"
ACCEPT_TRANSFER_TOOL: Final = "acceptTransfer"
DECLINE_TRANSFER_TOOL: Final = "declineTransfer"
LEAVE_VOICEMAIL_TOOL: Final = "leaveVoicemail"
"""Also given to the leg's agent: a voicemail it leaves ends the transfer as ``voicemail``."""
ACCEPT_KEY, DECLINE_KEY = "1", "2"
"""The keys the human presses on the leg."""
DEFAULT_RING_TIMEOUT_S: Final = 30
MIN_RING_TIMEOUT_S, MAX_RING_TIMEOUT_S = 5, 120
CONTEXT_PLACEHOLDER: Final = "{context}"
DEFAULT_PROMPT_TEMPLATE: Final = (
    "You are calling a colleague to hand a caller over to them. Brief them on the caller: {context} "
    "Then ask whether they take the call: if they agree, invoke acceptTransfer; if they refuse, invoke "
    "declineTransfer with their reason; if you reach a voicemail, leave a short message with leaveVoicemail "
    "or invoke declineTransfer with reason voicemail. They may also press 1 to accept or 2 to decline."
)
MAX_CONTEXT_CHARS: Final = 4000
MAX_TEMPLATE_CHARS: Final = 8000
_TARGET = re.compile(f"({E164_PATTERN})|({SIP_URI_PATTERN})")
_NAMESPACE: Final = UUID("2b0c8f1e-5d7a-4c61-9a38-6e1f0d4b7c25")


class WarmTransferReason(enum.StrEnum):
    """Why a warm transfer did not connect the caller: the caller returns to the agent with it."""

    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    CALLER_LEFT = "caller_left"
    FAILED = "failed"
    """callbridge or the provider could not carry it out (``detail`` says why)."""


class WarmTransferRequest(ApiModel):
    """The ``warmTransfer`` tool's parameters (the call's ``parameterOverrides`` win over the agent's)."""

    target: str = Field(max_length=400, description="Who is called: an E.164 number (+15551234567).")
    context: str = Field(
        default="",
        max_length=MAX_CONTEXT_CHARS,
        description="The agent's summary of the call, put in place of {context} in the prompt.",
    )
    hold_music_url: HttpUrl | None = Field(
        default=None,
        description="A WAV file the caller hears while on hold; none: a gentle generated tone pattern.",
    )
    transfer_system_prompt_template: str = Field(
        default=DEFAULT_PROMPT_TEMPLATE,
        max_length=MAX_TEMPLATE_CHARS,
        description="The system prompt of the agent on the human's leg; {context} is the summary.",
    )
    ring_timeout_s: int = Field(
        default=DEFAULT_RING_TIMEOUT_S,
        ge=MIN_RING_TIMEOUT_S,
        le=MAX_RING_TIMEOUT_S,
        alias="ringTimeout",
        description="Seconds the human's phone rings before the transfer ends as no_answer.",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, target: str) -> str:
        if not _TARGET.fullmatch(target):
            raise ValueError("target must be an E.164 number (+15551234567) or a SIP URI (sip:user@host)")
        if target.lower().startswith(("sip:", "sips:")):
            raise ValueError(
                "a warm transfer dials the human as an outbound call, which callbridge places to E.164 "
                "numbers only: a SIP URI target is not supported"
            )
        return target

    def prompt(self) -> str:
        return self.transfer_system_prompt_template.replace(CONTEXT_PLACEHOLDER, self.context)


class WarmTransfer(WarmTransferRequest, _Envelope):
    """Start a warm transfer of ``callId``: place the leg to ``target``."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    command: Literal["warm_transfer"] = "warm_transfer"


Decision = Literal["accepted", "declined", "no_answer", "busy", "voicemail", "caller_left", "failed"]


class WarmTransferDecided(_Envelope):
    """The warm transfer of ``callId`` (the first call) is decided: join the calls or return the caller."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    command: Literal["warm_transfer_decided"] = "warm_transfer_decided"
    decision: Decision
    detail: str | None = Field(default=None, max_length=300)
    leg_call_id: UUID | None = None
    """The human's call it came from: it decides only the transfer that called them (the agent may have
    tried someone else since). None: the caller's own (``caller_left``)."""

    @classmethod
    def once(
        cls,
        call_id: UUID,
        decision: Decision,
        source: str,
        detail: str | None = None,
        *,
        leg_call_id: UUID | None = None,
    ) -> WarmTransferDecided:
        """A decision whose id comes from where it came from (``source``: the ended call, the key, the
        tool invocation), so the same fact seen twice is one command."""
        return cls(
            call_id=call_id,
            command_id=uuid5(_NAMESPACE, f"{call_id}:{source}"),
            origin="callbridge",
            decision=decision,
            detail=detail,
            leg_call_id=leg_call_id,
        )


class WarmTransferState(StoredModel):
    """A warm transfer under way or done (key ``warm.<first call id>`` in ``callbridge_call_control``)."""

    call_id: UUID
    leg_call_id: UUID | None = None
    target: str
    invocation_id: str | None = None
    phase: Literal["dialing", "decided"] = "dialing"
    decision: Decision | None = None


def state_key(call_id: UUID) -> str:
    return f"warm.{call_id}"


def conference_room(call_id: UUID) -> str:
    """The conference (Twilio, Plivo) an accepted warm transfer of ``call_id`` joins both calls in."""
    return f"callbridge-{call_id}"


def plivo_conference_path(call_id: UUID) -> str:
    """Where webhooks serves the Plivo ``<Conference>`` of an accepted warm transfer of ``call_id``."""
    return f"/api/calls/{call_id}/conference_xml/plivo"


AnyCommand = Annotated[
    ColdTransfer | SendDtmf | ProviderHangUp | WarmTransfer | WarmTransferDecided,
    Field(discriminator="command"),
]
ANY_COMMAND: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)
"""Every call-control command the transfer service takes."""
