"""Commands to a live call, carried out by the media replica that holds its stream, and their replies.

Any service reaches a live call wherever it is: the replica holding the call subscribes to
``callbridge.media.<callId>.*`` (``subjects.media_command``) from the moment its session starts until the
call has ended, and answers each request with a :data:`CommandReply`. A request for a call that no replica
holds gets NATS's "no responders" status at once (see command_client.py). Commands are core NATS
request/reply, not JetStream: a command is about a call that is live now, and a sender that gets no
answer asks again or learns from the call's record what became of it.

A command names its verb twice, in the subject and in the body's ``command`` (the union's discriminator);
the replica refuses a body whose verb is not the subject's. A new verb (the transfer hand-off, DTMF) is a
model here, a member of :data:`CallCommand`, and a handler in media's command table.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

API_HANG_UP_DETAIL: Final = "hung up through the API"
"""The ``endDetail`` of a call ended by ``POST /api/calls/{callId}/hang_up``."""
VOICEMAIL_END_DETAIL: Final = "agent left a voicemail (leaveVoicemail)"
"""The ``endDetail`` of a call its agent's ``leaveVoicemail`` ended (a warm transfer's leg: voicemail)."""
MAX_DETAIL_CHARS: Final = 200
MAX_SAY_CHARS: Final = 4000

T = TypeVar("T")


class InvalidCommandError(ValueError):
    """A command or reply body that is not a valid one (refused, never acted on)."""


class _CommandModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, frozen=True, extra="forbid"
    )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class HangUpCall(_CommandModel):
    """End the call once the agent's audio already sent has played (at most ``hang_up_drain_timeout_s``),
    as the agent's ``hangUp`` tool does; the call ends as ``hangup`` with ``detail`` as its ``endDetail``.
    Idempotent: while a hang-up is under way, another is accepted and changes nothing."""

    command: Literal["hang_up"] = "hang_up"
    detail: str = Field(default=API_HANG_UP_DETAIL, min_length=1, max_length=MAX_DETAIL_CHARS)


class SayMessage(_CommandModel):
    """Make the agent say ``text`` now: a ``forced_agent_message`` to agents that speak text."""

    command: Literal["say"] = "say"
    text: str = Field(min_length=1, max_length=MAX_SAY_CHARS)
    urgency: Literal["immediate", "soon"] = "immediate"


class TransferHandOff(_CommandModel):
    """A cold transfer is under way (``begin``): the agent's audio stops, and when the provider stops the
    stream the call ends as ``transferred``, not as a hang-up; with ``closeStream`` (Exotel, whose flow's
    next applet connects the caller) media ends the stream itself. ``abort``: the provider refused the
    transfer, and the call goes on with the agent, which media tells why (``detail``)."""

    command: Literal["transfer"] = "transfer"
    phase: Literal["begin", "abort"] = "begin"
    target: str = Field(min_length=1, max_length=400)
    close_stream: bool = False
    detail: str | None = Field(default=None, max_length=MAX_DETAIL_CHARS)


class WarmTransferUpdate(_CommandModel):
    """A warm transfer's outcome, for the caller's call (on hold, its agent waiting on ``warmTransfer``):
    ``connect``: the human accepted, the provider joins the calls now (the stream's end is ``transferred``);
    ``return``: the hold ends and the agent gets the tool's result with ``reason``."""

    command: Literal["warm_transfer"] = "warm_transfer"
    phase: Literal["connect", "return"]
    target: str = Field(min_length=1, max_length=400)
    reason: str | None = Field(default=None, max_length=40)
    detail: str | None = Field(default=None, max_length=MAX_DETAIL_CHARS)


CallCommand = Annotated[
    HangUpCall | SayMessage | TransferHandOff | WarmTransferUpdate, Field(discriminator="command")
]
COMMAND_VERBS: Final = frozenset({"hang_up", "say", "transfer", "warm_transfer"})


class RefusalReason(enum.StrEnum):
    """Why a replica did not carry a command out."""

    ENDING = "ending"
    """The call's end has been decided (or it is hanging up): it takes no more commands but ``hang_up``."""
    NOT_STARTED = "not_started"
    """The provider's stream has not started yet: the agent is not listening."""
    NOT_SUPPORTED = "not_supported"
    """The call cannot do this (e.g. ``say`` to an agent that does not speak text)."""
    INVALID = "invalid"
    """The request was not a valid command."""
    FAILED = "failed"
    """Carrying the command out failed on the replica (a bug: it logged why)."""


class CommandAccepted(_CommandModel):
    outcome: Literal["accepted"] = "accepted"
    detail: str
    """What happens now, in words (``the call ends once the agent's audio has played``)."""


class CommandRefused(_CommandModel):
    outcome: Literal["refused"] = "refused"
    reason: RefusalReason
    detail: str


CommandReply = Annotated[CommandAccepted | CommandRefused, Field(discriminator="outcome")]

_COMMANDS: TypeAdapter[CallCommand] = TypeAdapter(CallCommand)
_REPLIES: TypeAdapter[CommandReply] = TypeAdapter(CommandReply)


def parse_command(raw: bytes) -> CallCommand:
    """A request's body as its command, or InvalidCommandError saying what is wrong (whatever was raised)."""
    return _parse(_COMMANDS, raw, "command")


def parse_reply(raw: bytes) -> CommandReply:
    return _parse(_REPLIES, raw, "reply")


def _parse(adapter: TypeAdapter[T], raw: bytes, what: str) -> T:
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or what}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:3]
        )
        raise InvalidCommandError(f"invalid {what}: {problems}"[:300]) from None
    except Exception as exc:  # anything else pydantic or the JSON reader may raise on bytes nobody foresaw
        raise InvalidCommandError(f"unreadable {what} ({type(exc).__name__})") from exc
