"""The scheduler's tasks in a dialer replica: the engine's loop, the shared outcome consumer, and what they
need (the call factory, progress events, the webhook sender), started and stopped with the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from nats.aio.client import Client

from callbridge.common.bus import EventPublisher, Stores
from callbridge.common.call_factory import CallFactory, Outbound
from callbridge.common.dialing import DialPublisher
from callbridge.common.join_tokens import JoinTokenSigner
from callbridge.common.scheduler import (
    OutcomeConsumer,
    OutcomeRecorder,
    ProgressPublisher,
    Scheduler,
    SchedulerSettings,
    WebhookPolicy,
    WebhookSender,
)
from callbridge.common.secrets import SecretBox
from callbridge.dialer import metrics
from callbridge.dialer.batches.placer import BatchCallPlacer
from callbridge.dialer.config import DialerSettings
from callbridge.telephony import TelephonyConfigs
from callbridge.telephony.accounts import ProviderAccounts

STOP_TIMEOUT_S = 5.0

logger = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def running_scheduler(
    settings: DialerSettings, connection: Client, stores: Stores, publisher: EventPublisher
) -> AsyncIterator[Scheduler]:
    """Run the scheduler until the context exits."""
    js = connection.jetstream()
    secret_key = settings.secret_key.get_secret_value()
    box = SecretBox(secret_key)
    configs = TelephonyConfigs(stores.telephony_configs)
    dials = DialPublisher(js)
    factory = CallFactory(
        stores.calls,
        stores.call_listing,
        publisher,
        JoinTokenSigner(secret_key),
        settings.media_public_url,
        capacity=stores.capacity,
        outbound=Outbound(accounts=ProviderAccounts(configs).resolve, dials=dials),
    )
    placer = BatchCallPlacer(stores, factory, configs, box.encrypt)
    progress = ProgressPublisher(js, stores.batches)
    recorder = OutcomeRecorder(stores.batches, stores.capacity, _utc_now, progress.publish)
    owner = f"{settings.instance_id}-{os.getpid()}"
    async with httpx.AsyncClient(follow_redirects=False) as client:
        scheduler = Scheduler(
            stores.batches,
            stores.capacity,
            stores.throttles,
            stores.throttle_usage,
            placer.limits_of,
            placer,
            WebhookSender(client, WebhookPolicy(attempts=settings.batch_webhook_tries)),
            box.decrypt,
            recorder,
            SchedulerSettings(
                owner=owner,
                lease_ttl_s=settings.scheduler_lease_ttl_s,
                tick_s=settings.scheduler_tick_s,
            ),
            _utc_now,
        )
        consumer = OutcomeConsumer(js, stores.batches, recorder)
        tasks = [
            asyncio.create_task(scheduler.run(), name="scheduler"),
            asyncio.create_task(consumer.run(), name="scheduler-outcomes"),
        ]
        for task in tasks:
            task.add_done_callback(_log_failure)
        logger.info("scheduler %s running", owner)
        metrics.SCHEDULERS.track(scheduler)
        try:
            yield scheduler
        finally:
            metrics.SCHEDULERS.untrack(scheduler)
            for task in tasks:
                task.cancel()
            # Bounded: a cancellation lost inside the NATS client must not hold the dialer's shutdown.
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            if pending:
                names = ", ".join(sorted(task.get_name() for task in pending))
                logger.warning("scheduler tasks did not stop within %g s: %s", STOP_TIMEOUT_S, names)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())
