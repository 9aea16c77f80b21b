"""Deadlines no single replica can keep in memory: calls nobody joined, and calls whose replica died.

Every ``created`` event goes to one durable JetStream consumer that all media replicas share. The handler
re-schedules the message with a delayed NAK until the call's join deadline; then, if nobody joined, it
ends the call as ``unjoined``. For a joined call it waits until ``maxDuration`` plus a grace period
(CALLBRIDGE_LOST_CALL_GRACE_S) has passed: a call still open then was lost with its replica (the replica that
holds a call ends it itself at ``maxDuration``; a killed one ends nothing) and no provider status callback
ended it either (an inbound stream without one). It is ended as ``connection_error``, the reason the
provider's stream-failure callback gives such a call, so its record does not stay open forever.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig

from callbridge.common import subjects
from callbridge.common.events import CallCreated
from callbridge.common.models.call import Call, EndReason
from callbridge.common.store import KvStore
from callbridge.media.lifecycle import CallLifecycle

logger = logging.getLogger(__name__)

LOST_CALL_GRACE = timedelta(seconds=60)
# JetStream redelivers a NAKed message after the delay; ack_wait only bounds one handler run.
ACK_WAIT_S = 30.0


def register_deadlines(
    broker: NatsBroker,
    calls: KvStore[Call],
    lifecycle: CallLifecycle,
    lost_call_grace: timedelta = LOST_CALL_GRACE,
) -> None:
    @broker.subscriber(
        subjects.call_events_wildcard(CallCreated.EVENT),
        stream=JStream(subjects.EVENTS_STREAM, declare=False),
        durable=subjects.JOIN_DEADLINE_CONSUMER,
        pull_sub=PullSub(batch_size=16, timeout=5.0),
        config=ConsumerConfig(ack_wait=ACK_WAIT_S, max_ack_pending=100_000),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_call_created(event: CallCreated, msg: NatsMessage) -> None:
        delay_s = await check_deadline(event, calls, lifecycle, lost_call_grace=lost_call_grace)
        if delay_s is None:
            await msg.ack()
        else:
            await msg.nack(delay=delay_s)


async def check_deadline(
    event: CallCreated,
    calls: KvStore[Call],
    lifecycle: CallLifecycle,
    *,
    lost_call_grace: timedelta = LOST_CALL_GRACE,
) -> float | None:
    """End the call if a deadline has passed; otherwise the seconds until the next check (None: done)."""
    found = await calls.find(str(event.call_id))
    if found is None:
        return None
    call = found.value
    if call.ended is not None:
        await lifecycle.ensure_listed(call)
        return None
    now = datetime.now(UTC)
    if call.joined is None:
        deadline = call.join_deadline()
        if now < deadline:
            return max(0.05, (deadline - now).total_seconds())
        await lifecycle.end(call.call_id, EndReason.UNJOINED, detail="nobody joined before joinTimeout")
        return None
    lost_after = call.joined + call.max_duration + lost_call_grace
    if now < lost_after:
        return max(1.0, (lost_after - now).total_seconds())
    logger.error("call %s still open past maxDuration: its media replica was lost", call.call_id)
    detail = "media replica lost the call (nothing ended it by maxDuration and the grace)"
    await lifecycle.end(call.call_id, EndReason.CONNECTION_ERROR, detail=detail)
    return None
