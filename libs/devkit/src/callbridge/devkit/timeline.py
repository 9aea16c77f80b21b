"""Follow one call's events on the JetStream events stream and print them as a timeline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from uuid import UUID

import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from callbridge.common import subjects
from callbridge.common.events import (
    AgentStateChanged,
    AgentToolInvoked,
    AgentTranscript,
    CallEnded,
    CallEvent,
    CallJoined,
    DialStatusChanged,
    DtmfReceived,
    PlayoutTruncated,
    ProviderStatusReceived,
    parse_event,
)
from callbridge.common.nats_auth import NO_CREDENTIALS, NatsCredentials


def describe(event: CallEvent, *, turn_ms: int | None = None) -> str:
    """One line a person can read for each event; ``turn_ms`` is the full length of the agent turn a
    barge-in cut, when known (callbridge only knows how much of it had been sent)."""
    if isinstance(event, CallJoined):
        details = event.provider_details
        media = details.media_format if details else "?"
        return f"joined ({media}, stream {details.stream_id if details else '?'})"
    if isinstance(event, CallEnded):
        return f"ended: {event.end_reason} ({event.detail or ''}, {event.duration_ms} ms)"
    if isinstance(event, DialStatusChanged):
        said = f"{event.provider.value} {event.provider_status}"
        return f"dial: {event.status} ({said}{', ' + event.detail if event.detail else ''})"
    if isinstance(event, ProviderStatusReceived):
        return f"{event.provider.value} callback: {event.status}"
    if isinstance(event, DtmfReceived):
        return f"caller pressed {event.digit}"
    if isinstance(event, AgentTranscript):
        return f"{event.role} says: {event.text or event.delta}"
    if isinstance(event, AgentStateChanged):
        return f"agent is {event.state}"
    if isinstance(event, PlayoutTruncated):
        if turn_ms is not None:
            return f"barge-in: turn {event.turn} cut after {event.heard_ms} of {turn_ms} ms heard"
        return f"barge-in: turn {event.turn} cut after {event.heard_ms} ms heard ({event.sent_ms} ms sent)"
    if isinstance(event, AgentToolInvoked):
        return f"agent invoked {event.tool_name}{'' if event.handled else ' (not handled)'}"
    return event.EVENT


@contextlib.asynccontextmanager
async def follow_call(
    nats_url: str, call_id: UUID | str, credentials: NatsCredentials = NO_CREDENTIALS
) -> AsyncIterator[asyncio.Queue[CallEvent]]:
    """Yield a queue that receives the call's events from its first one on (replayed from the stream)."""
    client = await nats.connect(nats_url, connect_timeout=5, **credentials.connect_options())
    queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=10_000)

    async def on_message(message: Msg) -> None:
        with contextlib.suppress(ValueError, asyncio.QueueFull):
            queue.put_nowait(parse_event(message.subject, message.data))

    js = client.jetstream()
    subscription = await js.subscribe(
        subjects.one_call_events(call_id),
        cb=on_message,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        yield queue
    finally:
        await subscription.unsubscribe()
        await client.drain()


async def print_timeline(
    queue: asyncio.Queue[CallEvent],
    *,
    until_ended: bool = True,
    timeout_s: float = 120.0,
    write: Callable[[str], None] = print,
    utterance_ms: Mapping[str, int] | None = None,
) -> list[CallEvent]:
    """Print events as they come, with seconds since the first; stop after ``ended`` (or the timeout).

    ``utterance_ms`` gives the length of what the agent says, by transcript text, for an agent that starts
    a new turn (``playback_clear_buffer``) before each thing it says, like the demo agent: a barge-in
    then cut the last thing said, and is reported against its full length.
    """
    events: list[CallEvent] = []
    start: datetime | None = None
    last_said: str | None = None
    async with asyncio.timeout(timeout_s):
        while True:
            event = await queue.get()
            events.append(event)
            start = start or event.occurred_at
            if isinstance(event, AgentTranscript) and event.role == "agent" and event.text:
                last_said = event.text
            turn_ms = (utterance_ms or {}).get(last_said or "")
            line = describe(event, turn_ms=turn_ms)
            write(f"  {(event.occurred_at - start).total_seconds():7.3f}s  {line}")
            if until_ended and isinstance(event, CallEnded):
                return events
