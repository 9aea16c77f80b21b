"""Reading one call's events back from the JetStream events stream, a page at a time.

Every event of a call is on ``callbridge.calls.<callId>.<event>`` in ``CALLBRIDGE_EVENTS`` (kept for
``EVENTS_MAX_AGE``). A page is read with a short-lived consumer filtered to the call's subjects, starting
after the last stream sequence the previous page returned: the server finds the call's messages by subject,
so a page costs the same however many other calls share the stream. The consumer is deleted after the page
(and expires on its own if this process dies first).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from uuid import UUID

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from callbridge.common import subjects
from callbridge.common.events import CallEvent, parse_event

FETCH_TIMEOUT_S = 5.0
CONSUMER_IDLE_S = 30.0
"""A page's consumer is removed by the server this long after its last use, if not deleted before."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    sequence: int
    """The event's sequence in the events stream: the cursor of the page after it."""
    event: CallEvent


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[StoredEvent]
    more: bool
    """Whether more events follow the last one (when the page was read)."""
    unreadable: int
    """Messages on the call's subjects that are not events this version can read (skipped)."""
    last_sequence: int | None
    """The stream sequence of the last message read, readable or not: where the next page starts."""


class CallEventLog:
    """The events stream, read by call."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def count(self, call_id: UUID) -> int:
        return await count_call_events(self._js, call_id)

    async def page(self, call_id: UUID, *, after: int, limit: int) -> EventPage:
        return await read_call_events(self._js, call_id, after=after, limit=limit)


async def count_call_events(js: JetStreamContext, call_id: UUID) -> int:
    """How many messages the stream holds for the call."""
    info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subjects.one_call_events(call_id))
    return sum((info.state.subjects or {}).values())


async def read_call_events(js: JetStreamContext, call_id: UUID, *, after: int, limit: int) -> EventPage:
    """Up to ``limit`` events of the call with a stream sequence above ``after``, oldest first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    config = ConsumerConfig(
        filter_subject=subjects.one_call_events(call_id),
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=CONSUMER_IDLE_S,
        mem_storage=True,
        num_replicas=1,
    )
    info = await js.add_consumer(subjects.EVENTS_STREAM, config)
    try:
        pending = info.num_pending or 0
        if pending == 0:
            return EventPage([], more=False, unreadable=0, last_sequence=None)
        subscription = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.EVENTS_STREAM)
        try:
            wanted = min(limit, pending)
            messages: list[Msg] = []
            while len(messages) < wanted:
                try:
                    batch = await subscription.fetch(wanted - len(messages), timeout=FETCH_TIMEOUT_S)
                except NatsTimeoutError:
                    break  # pending counted messages that have expired since: a shorter page
                messages.extend(batch)
        finally:
            await subscription.unsubscribe()
    finally:
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(subjects.EVENTS_STREAM, info.name)
    events: list[StoredEvent] = []
    unreadable = 0
    for message in messages:
        try:
            events.append(
                StoredEvent(message.metadata.sequence.stream, parse_event(message.subject, message.data))
            )
        except ValueError:  # a message this version cannot read (pydantic's ValidationError is one)
            unreadable += 1
    last = messages[-1].metadata.sequence.stream if messages else None
    return EventPage(events, more=pending > len(messages), unreadable=unreadable, last_sequence=last)
