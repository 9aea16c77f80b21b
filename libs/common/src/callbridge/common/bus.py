"""The NATS side every service shares: the broker, the JetStream stream and buckets, the event publisher."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsNKey, NatsSecurity, NatsUserPassword
from nats.aio.client import Client
from nats.errors import AuthorizationError
from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue
from opentelemetry.sdk.trace import TracerProvider

from callbridge.common import buckets, subjects
from callbridge.common.account_webhooks.models import Webhook
from callbridge.common.account_webhooks.queue import Progress
from callbridge.common.batch_store import BatchStore
from callbridge.common.call_events import CallEventLog
from callbridge.common.call_index import CallIndex
from callbridge.common.call_listing import CallListing
from callbridge.common.capacity import CapacityLedger, Ledger
from callbridge.common.events import CallEvent
from callbridge.common.live_calls import LiveCalls, ensure_live_calls_stream
from callbridge.common.models.agent import Agent
from callbridge.common.models.call import Call
from callbridge.common.models.provider_calls import ProviderCallLink, ReplayMark
from callbridge.common.nats_auth import NO_CREDENTIALS, NatsCredentials
from callbridge.common.store import KvStore, check_fits
from callbridge.common.throttles import (
    CallThrottle,
    ThrottleLedger,
    ThrottleName,
    ThrottleRegistry,
    ThrottleUsage,
)

logger = logging.getLogger(__name__)

EVENTS_MAX_AGE = timedelta(days=7)
PUBLISH_TIMEOUT_S = 5.0
STREAM_CONFIG_MISMATCH = 10058
"""JetStream's error code for "stream name already in use with a different configuration"."""


class NatsConnectError(RuntimeError):
    """NATS refused this service's credentials; the message says which ones and what to check."""


def create_broker(
    nats_url: str,
    tracer_provider: TracerProvider | None = None,
    credentials: NatsCredentials = NO_CREDENTIALS,
) -> NatsBroker:
    """A FastStream NATS broker logging in with ``credentials``; trace context travels in NATS headers when
    a tracer provider is given."""
    middlewares = (NatsTelemetryMiddleware(tracer_provider=tracer_provider),) if tracer_provider else ()
    return NatsBroker(
        nats_url,
        middlewares=middlewares,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        logger=None,
        security=_security(credentials),
    )


def _security(credentials: NatsCredentials) -> NatsSecurity | None:
    if credentials.user is not None and credentials.password is not None:
        return NatsUserPassword(credentials.user, credentials.password.get_secret_value())
    if credentials.nkey_seed_file is not None:
        return NatsNKey(credentials.nkey_seed_file)
    return None


async def connect_broker(
    broker: NatsBroker, nats_url: str, credentials: NatsCredentials = NO_CREDENTIALS
) -> Client:
    """Connect, turning NATS's refusal of the credentials into a NatsConnectError that names them.

    An unreachable server is retried for ever (``max_reconnect_attempts=-1``), as before: NATS may start
    after the services. A refusal is final: the same credentials would be refused again."""
    try:
        return await broker.connect()
    except NatsError as exc:
        if "authorization" not in str(exc).lower() and not isinstance(exc, AuthorizationError):
            raise
        await broker.stop()
        raise NatsConnectError(
            f"NATS at {_without_userinfo(nats_url)} refused {credentials.describe()}: {exc}"
        ) from exc


async def stop_broker(broker: NatsBroker) -> None:
    """Stop the broker. With NATS down, draining is refused (the client is reconnecting): the connection is
    closed without it, so a service still shuts down cleanly in the middle of a NATS outage."""
    try:
        await broker.stop()
    except NatsError as exc:
        logger.warning("NATS unreachable while stopping (%s): closing without draining", exc)
        connection = broker.connection
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except (NatsError, ConnectionError) as close_exc:  # the socket is gone already
                logger.debug("closing the NATS connection: %s", close_exc)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


async def ensure_jetstream(connection: Client, *, replicas: int = 1) -> None:
    """Create (or update) the events stream with ``replicas`` copies (CALLBRIDGE_NATS_REPLICAS). Idempotent;
    every service calls it at start-up."""
    js = connection.jetstream()
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD, subjects.BATCH_EVENTS_WILDCARD],
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE.total_seconds(),
        duplicate_window=120.0,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


@dataclass(frozen=True, slots=True)
class Stores:
    calls: KvStore[Call]
    call_listing: CallListing
    agents: KvStore[Agent]
    telephony_configs: KeyValue
    """The imported provider configs, one key per provider: callbridge.telephony's TelephonyConfigs reads
    each with its provider's model (this library knows none of them)."""
    provider_calls: KvStore[ProviderCallLink]
    webhook_replays: KvStore[ReplayMark]
    throttles: ThrottleRegistry
    throttle_usage: ThrottleLedger
    capacity: CapacityLedger
    call_events: CallEventLog
    """Each call's events, read back from the events stream."""
    webhooks: KvStore[Webhook]
    webhook_progress: KvStore[Progress]
    batches: BatchStore


async def open_stores(
    broker: NatsBroker, *, call_retention: timedelta | None = None, replicas: int = 1
) -> Stores:
    """Open (creating when missing) every KV bucket and the live-call stream, each with ``replicas`` copies
    (CALLBRIDGE_NATS_REPLICAS); call records and their index keep ``call_retention`` after their last
    change (None: for ever)."""
    bucket = functools.partial(open_bucket, broker, replicas=replicas)
    calls = await bucket(buckets.CALLS, history=1, ttl=call_retention)
    call_index = await bucket(buckets.CALL_INDEX, history=1, ttl=call_retention)
    js = _connection(broker).jetstream()
    await ensure_live_calls_stream(js, replicas=replicas)
    agents = await bucket(buckets.AGENTS, history=5)
    configs = await bucket(buckets.TELEPHONY_CONFIGS, history=5)
    provider_calls = await bucket(buckets.PROVIDER_CALLS, ttl=buckets.PROVIDER_CALLS_TTL)
    replays = await bucket(buckets.WEBHOOK_REPLAYS, ttl=buckets.WEBHOOK_REPLAYS_TTL)
    call_records = KvStore(calls, Call)
    throttles = await bucket(buckets.CALL_THROTTLES, history=1)
    throttle_usage = await bucket(buckets.THROTTLE_USAGE, history=1)
    capacity = await bucket(buckets.CAPACITY, history=1)
    account_webhooks = await bucket(buckets.ACCOUNT_WEBHOOKS, history=1)
    webhook_progress = await bucket(buckets.WEBHOOK_PROGRESS, ttl=buckets.WEBHOOK_PROGRESS_TTL)
    batches = await bucket(buckets.BATCHES, history=1)
    batch_attempts = await bucket(buckets.BATCH_ATTEMPTS, ttl=buckets.BATCH_ATTEMPTS_TTL)
    return Stores(
        calls=call_records,
        call_listing=CallListing(call_records, CallIndex(call_index), LiveCalls(js)),
        agents=KvStore(agents, Agent),
        telephony_configs=configs,
        provider_calls=KvStore(provider_calls, ProviderCallLink),
        webhook_replays=KvStore(replays, ReplayMark),
        throttles=ThrottleRegistry(KvStore(throttles, CallThrottle), KvStore(throttles, ThrottleName)),
        throttle_usage=ThrottleLedger(KvStore(throttle_usage, ThrottleUsage)),
        capacity=CapacityLedger(KvStore(capacity, Ledger)),
        call_events=CallEventLog(js),
        webhooks=KvStore(account_webhooks, Webhook),
        webhook_progress=KvStore(webhook_progress, Progress),
        batches=BatchStore(batches, batch_attempts),
    )


async def open_bucket(
    broker: NatsBroker, bucket: str, *, history: int = 1, ttl: timedelta | None = None, replicas: int = 1
) -> KeyValue:
    """Open a bucket with this version's settings, creating it when missing.

    A bucket an older version created with other settings (the provider-call index had a 7-day TTL) makes
    JetStream refuse the create; its stream is then updated in place, as ensure_jetstream does for events.
    """
    ttl_s = None if ttl is None else ttl.total_seconds()
    try:
        return await broker.key_value(bucket, history=history, ttl=ttl_s, replicas=replicas)
    except BadRequestError as exc:
        if exc.err_code != STREAM_CONFIG_MISMATCH:
            raise
    js = _connection(broker).jetstream()
    config = (await js.stream_info(f"KV_{bucket}")).config
    config.max_msgs_per_subject = history
    config.max_age = ttl_s or 0.0  # 0: no limit
    config.num_replicas = replicas
    await js.update_stream(config)
    return await broker.key_value(bucket, declare=False)


def _connection(broker: NatsBroker) -> Client:
    connection = broker.connection
    if connection is None:
        raise RuntimeError("the broker is not connected")
    return connection


class EventPublisher:
    """Publishes call events to the JetStream events stream, de-duplicated by ``eventId``."""

    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker

    def check_fits(self, event: CallEvent) -> None:
        """RecordTooLargeError when the event would not fit in one NATS message (the connected server's
        ``max_payload``): check before storing what the event announces, so nothing is stored unannounced."""
        check_fits(f"the {event.EVENT} event", event.to_json(), self._broker.connection.max_payload)

    async def publish(self, event: CallEvent) -> None:
        await self._broker.publish(
            event.to_json(),
            event.subject,
            headers={"Nats-Msg-Id": str(event.event_id), "content-type": "application/json"},
            stream=subjects.EVENTS_STREAM,
            timeout=PUBLISH_TIMEOUT_S,
        )
