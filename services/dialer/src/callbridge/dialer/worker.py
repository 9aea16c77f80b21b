"""The dialer's JetStream consumer of dial requests (``CALLBRIDGE_DIAL``, a work queue): one durable pull
consumer that every replica shares. (Provider calls left up when a call ends are the transfer service's.)"""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import ConsumerConfig
from pydantic import ValidationError

from callbridge.common import subjects
from callbridge.common.dialing import DialCall
from callbridge.dialer import metrics
from callbridge.dialer.placing import CallPlacer

logger = logging.getLogger(__name__)

DIAL_ACK_WAIT_S = 120.0
"""Longer than a dial's tries and waits (each wait is bounded by MAX_WAIT_S and the join deadline)."""
DIAL_RETRY_S = 5.0
MAX_DIAL_DELIVERIES = 5


def register_dialer(broker: NatsBroker, placer: CallPlacer, max_concurrent: int) -> None:
    @broker.subscriber(
        subjects.DIAL_SUBJECT,
        stream=JStream(subjects.DIAL_STREAM, declare=False),
        durable=subjects.DIAL_CONSUMER,
        pull_sub=PullSub(batch_size=min(max_concurrent, 64), timeout=5.0),
        config=ConsumerConfig(ack_wait=DIAL_ACK_WAIT_S, max_ack_pending=max_concurrent * 4),
        ack_policy=AckPolicy.MANUAL,
        max_workers=max_concurrent,
    )
    async def on_dial_request(msg: NatsMessage) -> None:
        try:
            request = DialCall.model_validate_json(msg.raw_message.data)
        except ValidationError as exc:
            metrics.REQUESTS_REJECTED.inc()
            logger.warning("unreadable dial request skipped: %s", exc.errors(include_input=False)[:1])
            await msg.reject()  # terminal: redelivering it would not make it readable
            return
        try:
            outcome = await placer.place(request)
        except Exception:  # NATS or KV failing under it: the claim keeps a later try from dialing twice
            deliveries = msg.raw_message.metadata.num_delivered
            if deliveries < MAX_DIAL_DELIVERIES:
                logger.exception("call %s: dial request failed; trying again", request.call_id)
                await msg.nack(delay=DIAL_RETRY_S)
            else:
                logger.exception(
                    "call %s: dial request failed %d times; dropped", request.call_id, deliveries
                )
                await msg.reject()
            return
        metrics.DIAL_REQUESTS.labels(outcome.value).inc()
        await msg.ack()
