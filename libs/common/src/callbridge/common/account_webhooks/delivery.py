"""Delivering call events to account webhooks and to calls' own callbacks: at least once, in order per call,
by any number of replicas.

Two durable JetStream consumers, shared by every replica that runs a ``WebhookDispatcher``:

*Fan-out* reads the ``created``, ``joined`` and ``ended`` events of the events stream (one consumer per
kind, each filtered to its subjects) and, for every webhook that asked for that event (and for that call's
agent, when it names one), publishes one *delivery*: the exact body (``{"event", "call"}``, the call as
``GET /api/calls/{id}`` shows it) on ``callbridge.webhook_deliveries.<webhookId>.<callId>`` in the
``CALLBRIDGE_WEBHOOK_DELIVERIES`` work-queue stream, with ``Nats-Msg-Id`` = event id + webhook id, so a
fan-out redelivered after a crash publishes no second delivery. A ``joined`` or ``ended`` event of a call
with a callback for it (``callbacks.joined``/``ended``) publishes one more, on
``callbridge.webhook_deliveries.callbacks.<callId>``, delivered the same way (receivers.py: who gets what,
and where each receiver's health shows).

*Delivery* takes each delivery in its own task (at most ``concurrency`` at once per replica, so one slow
receiver holds one slot, never another receiver's deliveries or a call) and POSTs it, signed (signing.py),
with a timeout. A 2xx is done. Anything else is an attempt that failed: it is recorded on the webhook
(``recentFailures``, ``status``) and the delivery comes back after ``retry_base_s``, then twice that, and so
on, up to ``MAX_ATTEMPTS`` attempts; then it is given up (and counted). Order per call and webhook: a
delivery waits (comes back shortly, no attempt counted) while an earlier event of the same call that this
webhook should get is neither done nor given up, judged by the call record (what happened to the call) and
the webhook's creation time (a webhook created after an event never gets it). What is done is kept per
webhook and call in the ``callbridge_webhook_progress`` bucket (compare-and-set).

At least once: a replica that dies after a POST and before recording it makes another replica POST again
(receivers must be idempotent, as Ultravox says of its own webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import httpx
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
)
from pydantic import ValidationError

from callbridge.common import buckets, subjects
from callbridge.common.account_webhooks import metrics
from callbridge.common.account_webhooks.models import EVENT_ORDER, Webhook, WebhookEvent
from callbridge.common.account_webhooks.queue import (
    CALLBACKS_SEGMENT,
    DELIVERIES_STREAM,
    DELIVERY_PREFIX,
    Delivery,
    Progress,
    delivery_subject,
    ensure_delivery_stream,
    progress_key,
)
from callbridge.common.account_webhooks.receivers import CallbackReceiver, Receiver, WebhookReceiver
from callbridge.common.account_webhooks.signing import signed_headers
from callbridge.common.events import CallCreated, CallEnded, CallJoined, parse_event
from callbridge.common.models.call import Call
from callbridge.common.models.sealing import Decrypt
from callbridge.common.store import ConflictError, KvStore

logger = logging.getLogger(__name__)

DELIVERY_CONSUMER = "webhook-delivery"
FANOUT_CONSUMER = "webhook-fanout-{kind}"
MAX_ATTEMPTS = 10
ORDER_WAIT_S = 0.5
"""How soon a delivery waiting for an earlier event of its call comes back."""
ACK_WAIT_S = 60.0
STOP_TIMEOUT_S = 5.0
"""How long stopping waits for the delivery tasks (a message not acknowledged comes back after ACK_WAIT_S)."""
FETCH_BATCH = 64

_KINDS: dict[str, WebhookEvent] = {
    CallCreated.EVENT: WebhookEvent.STARTED,
    CallJoined.EVENT: WebhookEvent.JOINED,
    CallEnded.EVENT: WebhookEvent.ENDED,
}


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    retry_base_s: float = 30.0
    """The first retry's delay; each next one doubles (Ultravox: 30 s, 1 m, 2 m, …)."""
    timeout_s: float = 10.0
    concurrency: int = 100
    stream_replicas: int = 1
    """Copies of the deliveries stream (CALLBRIDGE_NATS_REPLICAS)."""


class WebhookDispatcher:
    """Fan-out and delivery, run by each webhooks replica (``async with``)."""

    def __init__(
        self,
        connection: Client,
        webhooks: KvStore[Webhook],
        progress: KvStore[Progress],
        calls: KvStore[Call],
        decrypt: Decrypt,
        settings: DispatcherSettings | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        on_delivered: Callable[[WebhookEvent, bool], None] | None = None,
    ) -> None:
        self._nc = connection
        self._js = connection.jetstream()
        self._webhooks = webhooks
        self._progress = progress
        self._calls = calls
        self._decrypt = decrypt
        self._settings = settings or DispatcherSettings()
        self._http = http
        self._own_http = http is None
        self._on_delivered = on_delivered
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[JetStreamContext.PullSubscription] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self._settings.concurrency)
        self._stopping = False
        self._cache: tuple[int, list[Webhook]] | None = None

    async def __aenter__(self) -> WebhookDispatcher:
        await ensure_delivery_stream(self._js, replicas=self._settings.stream_replicas)
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        for event_name in _KINDS:
            subscription = await self._js.pull_subscribe(
                subjects.call_events_wildcard(event_name),
                durable=FANOUT_CONSUMER.format(kind=event_name),
                stream=subjects.EVENTS_STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ACK_WAIT_S,
                    deliver_policy=DeliverPolicy.NEW,
                    max_ack_pending=10_000,
                ),
            )
            self._subscriptions.append(subscription)
            self._tasks.append(
                asyncio.create_task(self._pull(subscription, self._fan_out), name="webhook-fanout")
            )
        deliveries = await self._js.pull_subscribe(
            f"{DELIVERY_PREFIX}.>",
            durable=DELIVERY_CONSUMER,
            stream=DELIVERIES_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_ack_pending=100_000
            ),
        )
        self._subscriptions.append(deliveries)
        self._tasks.append(
            asyncio.create_task(self._pull(deliveries, self._deliver), name="webhook-delivery")
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        # The flag ends the pull loops even if a cancellation is lost inside the client's fetch (a wait_for
        # that completes as it is cancelled swallows the cancellation on Python 3.11), and the wait is
        # bounded: stopping never hangs the service's shutdown.
        self._stopping = True
        tasks = [*self._tasks, *self._in_flight]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
            if pending:
                logger.warning(
                    "%d webhook delivery tasks did not stop within %g s", len(pending), STOP_TIMEOUT_S
                )
        # Off the connection (the consumers are durable and stay): a subscription left on it would hold the
        # connection's drain until its timeout, waiting for the status message that ends the last pull.
        for subscription in self._subscriptions:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()
        self._subscriptions.clear()
        if self._own_http and self._http is not None:
            await self._http.aclose()

    async def _pull(
        self, subscription: JetStreamContext.PullSubscription, handle: Callable[[Msg], object]
    ) -> None:
        while not self._stopping:
            await self._slots.acquire()
            self._slots.release()
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=5.0)
            except NatsTimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS away: try again shortly
                logger.warning("webhook consumer fetch failed (%s): retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for message in messages:
                await self._slots.acquire()
                task = asyncio.create_task(self._guarded(handle, message))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    async def _guarded(self, handle: Callable[[Msg], object], message: Msg) -> None:
        try:
            await handle(message)  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or NATS away: the message comes back after ack_wait
            logger.exception("webhook message on %s failed", message.subject)

    # -- fan-out ---------------------------------------------------------------------------------------

    async def _all_webhooks(self) -> list[Webhook]:
        """Every webhook, read again only when the bucket has changed (its stream's last sequence): a
        webhook applies to every call event after its creation, on every replica."""
        info = await self._js.stream_info(f"KV_{buckets.ACCOUNT_WEBHOOKS}")
        sequence = info.state.last_seq
        if self._cache is None or self._cache[0] != sequence:
            self._cache = (sequence, await self._webhooks.all())
        return self._cache[1]

    async def _fan_out(self, message: Msg) -> None:
        try:
            event = parse_event(message.subject, message.data)
        except ValueError:
            await message.term()  # not an event this version reads: skipped
            return
        kind = _KINDS.get(event.EVENT)
        if kind is None:
            await message.ack()
            return
        webhooks = [
            webhook
            for webhook in await self._all_webhooks()
            if kind in webhook.events and webhook.created <= event.occurred_at
        ]
        call: Call | None = None
        if isinstance(event, CallCreated):
            call_public = event.call  # no callback for creation: the call record is not needed
        else:
            found = await self._calls.find(str(event.call_id))
            if found is None:  # deleted since: nothing to say about it
                await message.ack()
                return
            call = found.value
            call_public = call.public()
        receivers: list[UUID | None] = [
            webhook.webhook_id
            for webhook in webhooks
            if webhook.agent_id is None or webhook.agent_id == call_public.agent_id
        ]
        if call is not None and call.callbacks is not None and call.callbacks.target(kind) is not None:
            receivers.append(None)  # the call's own callback
        if not receivers:
            await message.ack()
            return
        body = orjson.dumps({"event": kind.value, "call": call_public.model_dump(mode="json")}).decode()
        for webhook_id in receivers:
            delivery = Delivery(
                webhook_id=webhook_id,
                call_id=event.call_id,
                event=kind,
                occurred_at=event.occurred_at,
                body=body,
            )
            await self._js.publish(
                delivery_subject(webhook_id, event.call_id),
                delivery.model_dump_json().encode(),
                stream=DELIVERIES_STREAM,
                headers={"Nats-Msg-Id": f"{event.event_id}.{webhook_id or CALLBACKS_SEGMENT}"},
            )
        await message.ack()

    # -- delivery --------------------------------------------------------------------------------------

    async def _receiver(self, delivery: Delivery) -> Receiver | None:
        """Who the delivery goes to; None when that is gone (the webhook, the call, or its callback)."""
        if delivery.webhook_id is not None:
            found = await self._webhooks.find(str(delivery.webhook_id))
            if found is None:
                return None
            return WebhookReceiver(found.value, delivery, self._calls, self._webhooks, self._decrypt)
        call = await self._calls.find(str(delivery.call_id))
        callback = None
        if call is not None and call.value.callbacks is not None:
            callback = call.value.callbacks.target(delivery.event)
        if call is None or callback is None:
            return None
        return CallbackReceiver(call.value, callback, delivery, self._calls, self._decrypt)

    async def _deliver(self, message: Msg) -> None:
        try:
            delivery = Delivery.model_validate_json(message.data)
        except ValidationError:
            await message.term()
            return
        receiver = await self._receiver(delivery)
        if receiver is None:
            await message.ack()
            return
        key = progress_key(delivery.webhook_id, delivery.call_id)
        progress = await self._progress.find(key)
        state = progress.value if progress else Progress()
        if delivery.event in state.done:
            await message.ack()  # a redelivery of what was done already
            return
        if await receiver.earlier_pending(state):
            await message.nak(delay=ORDER_WAIT_S)
            return
        failure = await self._post(receiver, delivery)
        metrics.ATTEMPTS.labels("ok" if failure is None else "failed").inc()
        if failure is None:
            await self._mark(key, delivery.event, done=True)
            await receiver.record(None, attempts=state.attempts.get(delivery.event, 0), gave_up=False)
            await message.ack()
            self._count(delivery.event, ok=True)
            return
        attempts = await self._mark(key, delivery.event, done=False)
        gave_up = attempts >= MAX_ATTEMPTS
        await receiver.record(failure, attempts=attempts, gave_up=gave_up)
        if gave_up:
            await self._mark(key, delivery.event, done=True)
            logger.warning(
                "%s: gave up %s of call %s after %d attempts (%s)",
                f"webhook {delivery.webhook_id}" if delivery.webhook_id else "the call's callback",
                delivery.event.value,
                delivery.call_id,
                attempts,
                failure,
                extra={"call_id": str(delivery.call_id)},
            )
            await message.ack()
            self._count(delivery.event, ok=False)
            return
        await message.nak(delay=self._settings.retry_base_s * 2 ** (attempts - 1))

    async def _post(self, receiver: Receiver, delivery: Delivery) -> str | None:
        """None when the receiver took it (2xx); otherwise what went wrong."""
        assert self._http is not None
        body = delivery.body.encode()
        try:
            secrets = receiver.secrets()
        except Exception:
            return "its secrets cannot be opened with this secret key: set them again"
        try:
            response = await self._http.post(
                receiver.url,
                content=body,
                headers=signed_headers(secrets, body),
                timeout=self._settings.timeout_s,
            )
        except httpx.TimeoutException:
            return f"no answer within {self._settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: could not connect or send"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _mark(self, key: str, event: WebhookEvent, *, done: bool) -> int:
        """Record an attempt (``done=False``: one more failed) or the event done; the attempts so far."""

        def change(state: Progress) -> Progress:
            if done:
                return state.model_copy(
                    update={"done": sorted({*state.done, event}, key=EVENT_ORDER.__getitem__)}
                )
            attempts = dict(state.attempts)
            attempts[event] = attempts.get(event, 0) + 1
            return state.model_copy(update={"attempts": attempts})

        while True:
            current = await self._progress.find(key)
            if current is None:
                try:
                    await self._progress.create(key, change(Progress()))
                except ConflictError:  # created meanwhile by another replica: go round
                    continue
                return 0 if done else 1
            updated = change(current.value)
            try:
                await self._progress.update(key, updated, current.revision)
            except ConflictError:
                continue
            return updated.attempts.get(event, 0)

    def _count(self, event: WebhookEvent, *, ok: bool) -> None:
        metrics.DELIVERIES.labels(event.value, "delivered" if ok else "given_up").inc()
        if self._on_delivered is not None:
            self._on_delivered(event, ok)
