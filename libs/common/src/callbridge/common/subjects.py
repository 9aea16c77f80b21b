"""The NATS subject catalogue. Services build subjects here and never type one by hand."""

from __future__ import annotations

from uuid import UUID

PREFIX = "callbridge"

EVENTS_STREAM = "CALLBRIDGE_EVENTS"
"""JetStream stream that keeps every call event, so subscribers can follow and replay calls."""

EVENTS_WILDCARD = f"{PREFIX}.calls.>"

BATCH_EVENTS_WILDCARD = f"{PREFIX}.batches.>"
"""Scheduled batches' events, kept in the events stream too."""

JOIN_DEADLINE_CONSUMER = "media-join-deadline"
"""Durable consumer (queue-shared by media replicas) that ends calls nobody joined in time."""


def call_event(call_id: UUID | str, event: str) -> str:
    """``callbridge.calls.<call_id>.<event>``, e.g. ``callbridge.calls.<id>.ended``."""
    return f"{PREFIX}.calls.{call_id}.{event}"


def batch_event(batch_id: UUID | str, event: str) -> str:
    """``callbridge.batches.<batch_id>.<event>``, e.g. ``...progress``."""
    return f"{PREFIX}.batches.{batch_id}.{event}"


def call_events_wildcard(event: str = "*") -> str:
    """Every call's ``event`` (``callbridge.calls.*.created``); ``"*"`` for every event of every call."""
    return f"{PREFIX}.calls.*.{event}"


def one_call_events(call_id: UUID | str) -> str:
    """Every event of one call."""
    return f"{PREFIX}.calls.{call_id}.>"


def media_command(call_id: UUID | str, verb: str) -> str:
    """A command for the media replica that holds ``call_id``'s WebSocket (core NATS request/reply, not
    persisted; see commands.py)."""
    return f"{PREFIX}.media.{call_id}.{verb}"


def media_commands_of(call_id: UUID | str) -> str:
    """Every command of one call: what the replica holding it subscribes to."""
    return f"{PREFIX}.media.{call_id}.*"


def command_verb(subject: str) -> str:
    """The verb of a ``media_command`` subject (its last token)."""
    return subject.rpartition(".")[2]


LIVE_CALLS_STREAM = "CALLBRIDGE_LIVE_CALLS"
"""One message per call that has not ended (see live_calls.py)."""
LIVE_CALL_PREFIX = f"{PREFIX}.live."


def live_call(agent: str, call_id: UUID) -> str:
    """``callbridge.live.<agentId or none>.<callId hex>``."""
    return f"{LIVE_CALL_PREFIX}{agent}.{call_id.hex}"


def live_call_wildcard() -> str:
    return f"{LIVE_CALL_PREFIX}>"


DIAL_STREAM = "CALLBRIDGE_DIAL"
"""Work-queue stream of dial requests (``DialCall``): each is taken by one dialer replica and kept until it
acknowledges it, so a dialer that dies loses none."""

DIAL_SUBJECT = f"{PREFIX}.cmd.dialer.dial"
"""Where ``DialCall`` requests are published."""

DIAL_CONSUMER = "dialer"
"""The durable pull consumer every dialer replica shares."""

CALL_CONTROL_STREAM = "CALLBRIDGE_CALL_CONTROL"
"""Work-queue stream of call-control commands (transfer, send DTMF, provider hang-up; call_control.py),
each taken by one transfer replica."""

CALL_CONTROL_WILDCARD = f"{PREFIX}.cmd.transfer.>"

CALL_CONTROL_CONSUMER = "transfer"
"""The durable pull consumer every transfer replica shares."""


def call_control(verb: str) -> str:
    """``callbridge.cmd.transfer.<verb>`` (``cold_transfer``, ``send_dtmf``, ``provider_hang_up``)."""
    return f"{PREFIX}.cmd.transfer.{verb}"
