"""The NATS side every service shares: the broker, the JetStream stream and buckets, the event publisher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError
from opentelemetry.sdk.trace import TracerProvider

from callbridge.common import buckets, subjects
from callbridge.common.events import CallEvent
from callbridge.common.models.agent import Agent
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony import (
    ProviderCallLink,
    ReplayMark,
    StoredExotelConfig,
    StoredPlivoConfig,
    StoredTelnyxConfig,
    StoredTwilioConfig,
)
from callbridge.common.store import KvStore, check_fits

EVENTS_MAX_AGE = timedelta(days=7)
PUBLISH_TIMEOUT_S = 5.0


def create_broker(nats_url: str, tracer_provider: TracerProvider | None = None) -> NatsBroker:
    """A FastStream NATS broker; trace context travels in NATS headers when a tracer provider is given."""
    middlewares = (NatsTelemetryMiddleware(tracer_provider=tracer_provider),) if tracer_provider else ()
    return NatsBroker(
        nats_url,
        middlewares=middlewares,
        connect_timeout=5,
        max_reconnect_attempts=-1,
        logger=None,
    )


async def ensure_jetstream(connection: Client) -> None:
    """Create (or update) the events stream. Idempotent; every service calls it at start-up."""
    js = connection.jetstream()
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD],
        storage=StorageType.FILE,
        max_age=EVENTS_MAX_AGE.total_seconds(),
        duplicate_window=120.0,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


@dataclass(frozen=True, slots=True)
class TelephonyConfigStores:
    """One bucket, one key per provider (its name), each read as that provider's stored config."""

    twilio: KvStore[StoredTwilioConfig]
    telnyx: KvStore[StoredTelnyxConfig]
    plivo: KvStore[StoredPlivoConfig]
    exotel: KvStore[StoredExotelConfig]

    async def imported(self) -> frozenset[Provider]:
        """The providers whose credentials are imported (a read per provider: listing a bucket's keys
        is a watcher that can come back early, a get cannot)."""
        found = {
            Provider.TWILIO: await self.twilio.find(Provider.TWILIO.value),
            Provider.TELNYX: await self.telnyx.find(Provider.TELNYX.value),
            Provider.PLIVO: await self.plivo.find(Provider.PLIVO.value),
            Provider.EXOTEL: await self.exotel.find(Provider.EXOTEL.value),
        }
        return frozenset(provider for provider, config in found.items() if config is not None)


@dataclass(frozen=True, slots=True)
class Stores:
    calls: KvStore[Call]
    agents: KvStore[Agent]
    telephony_configs: TelephonyConfigStores
    provider_calls: KvStore[ProviderCallLink]
    webhook_replays: KvStore[ReplayMark]


async def open_stores(broker: NatsBroker) -> Stores:
    """Open (creating when missing) every KV bucket."""
    calls = await broker.key_value(buckets.CALLS, history=5)
    agents = await broker.key_value(buckets.AGENTS, history=5)
    configs = await broker.key_value(buckets.TELEPHONY_CONFIGS, history=5)
    provider_calls = await broker.key_value(
        buckets.PROVIDER_CALLS, ttl=buckets.PROVIDER_CALLS_TTL.total_seconds()
    )
    replays = await broker.key_value(buckets.WEBHOOK_REPLAYS, ttl=buckets.WEBHOOK_REPLAYS_TTL.total_seconds())
    return Stores(
        calls=KvStore(calls, Call),
        agents=KvStore(agents, Agent),
        telephony_configs=TelephonyConfigStores(
            twilio=KvStore(configs, StoredTwilioConfig),
            telnyx=KvStore(configs, StoredTelnyxConfig),
            plivo=KvStore(configs, StoredPlivoConfig),
            exotel=KvStore(configs, StoredExotelConfig),
        ),
        provider_calls=KvStore(provider_calls, ProviderCallLink),
        webhook_replays=KvStore(replays, ReplayMark),
    )


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
