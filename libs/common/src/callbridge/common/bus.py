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
from callbridge.common.models.telephony import StoredTwilioConfig
from callbridge.common.store import KvStore

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
class Stores:
    calls: KvStore[Call]
    agents: KvStore[Agent]
    telephony_configs: KvStore[StoredTwilioConfig]


async def open_stores(broker: NatsBroker) -> Stores:
    """Open (creating when missing) every KV bucket."""
    calls = await broker.key_value(buckets.CALLS, history=5)
    agents = await broker.key_value(buckets.AGENTS, history=5)
    configs = await broker.key_value(buckets.TELEPHONY_CONFIGS, history=5)
    return Stores(
        calls=KvStore(calls, Call),
        agents=KvStore(agents, Agent),
        telephony_configs=KvStore(configs, StoredTwilioConfig),
    )


class EventPublisher:
    """Publishes call events to the JetStream events stream, de-duplicated by ``eventId``."""

    def __init__(self, broker: NatsBroker) -> None:
        self._broker = broker

    async def publish(self, event: CallEvent) -> None:
        await self._broker.publish(
            event.to_json(),
            event.subject,
            headers={"Nats-Msg-Id": str(event.event_id), "content-type": "application/json"},
            stream=subjects.EVENTS_STREAM,
            timeout=PUBLISH_TIMEOUT_S,
        )
