"""Outcomes from the events stream: every call's ``ended`` event goes to one durable JetStream consumer that
all scheduler replicas share. A message is acked only after its outcome is recorded, so a replica dying
mid-way leaves it to be redelivered (at least once); recording it twice changes nothing (recorder.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from uuid import UUID

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ConfigDict, ValidationError

from callbridge.common import subjects
from callbridge.common.batch_store import BatchStore
from callbridge.common.models.base import ApiModel
from callbridge.common.scheduler.outcomes import outcome_of_end
from callbridge.common.scheduler.recorder import OutcomeRecorder

logger = logging.getLogger(__name__)

CONSUMER = "scheduler-outcomes"
FETCH_BATCH = 128
FETCH_TIMEOUT_S = 1.0
ACK_WAIT_S = 30.0
HANDLE_TIMEOUT_S = 20.0
"""Recording one outcome takes a few KV round trips; one that takes longer is given back (NAK) to be
tried again rather than holding up the others."""


class EndedCall(ApiModel):
    """What the scheduler reads of an ``ended`` event; the end reason as a string, so that reasons newer
    than this replica (a dialer's ``busy``) are understood by name."""

    model_config = ConfigDict(extra="ignore")

    call_id: UUID
    end_reason: str
    duration_ms: int | None = None
    detail: str | None = None


class OutcomeConsumer:
    def __init__(self, js: JetStreamContext, batches: BatchStore, recorder: OutcomeRecorder) -> None:
        self._js = js
        self._batches = batches
        self._recorder = recorder
        self.skipped = 0
        """Events that could not be read (counted and skipped)."""

    async def run(self) -> None:
        subscription = await self._js.pull_subscribe(
            subjects.call_events_wildcard("ended"),
            durable=CONSUMER,
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_ack_pending=20_000),
        )
        task = asyncio.current_task()
        try:
            while True:
                try:
                    messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
                except (NatsTimeoutError, TimeoutError):  # nothing to fetch: nats-py raises either kind
                    messages = []
                except NatsError as exc:  # NATS away or reconnecting: the consumer stays, try again
                    logger.warning("fetching outcomes failed (%s); trying again", exc)
                    messages = []
                    await asyncio.sleep(FETCH_TIMEOUT_S)  # a pause before the next try, not a wait
                if task is not None and task.cancelling():
                    # nats-py's fetch can swallow a cancellation (it waits with its own timeout): honour it
                    raise asyncio.CancelledError
                await asyncio.gather(*(self._handle(message) for message in messages))
        finally:
            with contextlib.suppress(Exception):  # closing on the way out; the consumer stays durable
                await subscription.unsubscribe()

    async def _handle(self, message: Msg) -> None:
        data = message.data
        try:
            ended = EndedCall.model_validate_json(data)
        except ValidationError:
            self.skipped += 1
            logger.warning("skipping an ended event that cannot be read")
            await message.ack()
            return
        try:
            async with asyncio.timeout(HANDLE_TIMEOUT_S):
                link = await self._batches.find_link(ended.call_id)
                if link is not None:
                    outcome = outcome_of_end(ended.end_reason, ended.duration_ms is not None)
                    detail = ended.end_reason + (f": {ended.detail}" if ended.detail else "")
                    await self._recorder.record(link, outcome, detail[:300])
        except Exception:
            logger.exception("recording the outcome of call %s failed; it will be redelivered", ended.call_id)
            await message.nak(delay=1.0)
            return
        await message.ack()
