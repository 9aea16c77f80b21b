"""The transfer service's JetStream consumers: call-control commands (``CALLBRIDGE_CALL_CONTROL``, a work
queue) and ended calls (the events stream, to hang up provider calls left up), each one durable pull
consumer that every replica shares."""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig
from opentelemetry import trace
from pydantic import ValidationError

from callbridge.common import subjects
from callbridge.common.call_control import CallControlPublisher
from callbridge.common.events import CallEnded
from callbridge.common.logs import bind_call
from callbridge.common.models.call import Call
from callbridge.common.store import KvStore
from callbridge.common.warm_transfer import ANY_COMMAND, WarmTransferState
from callbridge.transfer import metrics
from callbridge.transfer.executor import CommandExecutor, RetryLater
from callbridge.transfer.hangups import hang_up_command
from callbridge.transfer.warm_leg import decision_after_end

logger = logging.getLogger(__name__)

COMMAND_ACK_WAIT_S = 60.0
"""Longer than a command takes: the media hand-off (5 s) and the provider's answer (its timeout)."""
RETRY_S = 5.0
MAX_DELIVERIES = 10
ENDED_CONSUMER = "transfer-ended"


def register_commands(broker: NatsBroker, executor: CommandExecutor, max_concurrent: int) -> None:
    @broker.subscriber(
        subjects.CALL_CONTROL_WILDCARD,
        stream=JStream(subjects.CALL_CONTROL_STREAM, declare=False),
        durable=subjects.CALL_CONTROL_CONSUMER,
        pull_sub=PullSub(batch_size=min(max_concurrent, 64), timeout=5.0),
        config=ConsumerConfig(ack_wait=COMMAND_ACK_WAIT_S, max_ack_pending=max_concurrent * 4),
        ack_policy=AckPolicy.MANUAL,
        max_workers=max_concurrent,
    )
    async def on_command(msg: NatsMessage) -> None:
        try:
            command = ANY_COMMAND.validate_json(msg.raw_message.data)
        except ValidationError as exc:
            metrics.COMMANDS_REJECTED.inc()
            logger.warning("unreadable call-control command skipped: %s", exc.errors(include_input=False)[:1])
            await msg.reject()  # terminal: redelivering it would not make it readable
            return
        deliveries = msg.raw_message.metadata.num_delivered
        bind_call(command.call_id)  # its log lines and provider request spans carry the call id
        trace.get_current_span().set_attribute("callbridge.call_id", str(command.call_id))
        try:
            outcome = await executor.execute(command)
        except RetryLater as exc:
            metrics.COMMANDS.labels(command.command, "retry").inc()
            if deliveries < MAX_DELIVERIES:
                logger.warning("call %s: %s: %s; trying again", command.call_id, command.command, exc)
                await msg.nack(delay=RETRY_S)
            else:
                logger.error("call %s: gave up %s: %s", command.call_id, command.command, exc)
                await msg.ack()
            return
        except Exception:  # NATS or KV failing under it: the claim keeps a later try from acting twice
            if deliveries < MAX_DELIVERIES:
                logger.exception("call %s: %s failed; trying again", command.call_id, command.command)
                await msg.nack(delay=RETRY_S)
            else:
                logger.exception("call %s: %s failed %d times; dropped", command.call_id, command.command,
                                 deliveries)  # fmt: skip
                await msg.reject()
            return
        metrics.COMMANDS.labels(command.command, outcome.value).inc()
        await msg.ack()


def register_hang_ups(
    broker: NatsBroker,
    calls: KvStore[Call],
    call_control: CallControlPublisher,
    warm_states: KvStore[WarmTransferState],
) -> None:
    """Ended calls: their provider hang-up, and what their end decides about a warm transfer."""

    @broker.subscriber(
        subjects.call_events_wildcard(CallEnded.EVENT),
        stream=JStream(subjects.EVENTS_STREAM, declare=False),
        durable=ENDED_CONSUMER,
        pull_sub=PullSub(batch_size=16, timeout=5.0),
        config=ConsumerConfig(ack_wait=60.0, max_ack_pending=10_000),
        ack_policy=AckPolicy.MANUAL,
        max_workers=16,
    )
    async def on_ended(msg: NatsMessage) -> None:
        try:
            event = CallEnded.model_validate_json(msg.raw_message.data)
        except ValidationError:
            await msg.reject()
            return
        bind_call(event.call_id)
        try:
            found = await calls.find(str(event.call_id))
            command = None if found is None else hang_up_command(found.value, event)
            if command is not None:
                await call_control.publish(command)
            decision = None if found is None else await decision_after_end(found.value, event, warm_states)
            if decision is not None:
                await call_control.publish(decision)
        except Exception:  # NATS or KV failing under it: the command id makes a second publish a no-op
            if msg.raw_message.metadata.num_delivered < MAX_DELIVERIES:
                logger.exception(
                    "call %s: asking for its provider hang-up failed; trying again", event.call_id
                )
                await msg.nack(delay=RETRY_S)
                return
            logger.exception("call %s: gave up asking for its provider hang-up", event.call_id)
        await msg.ack()
