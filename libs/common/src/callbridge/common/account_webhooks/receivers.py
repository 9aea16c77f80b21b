"""Who a delivery goes to: an account webhook, or a call's own callback (``callbacks.joined``/``ended``).

Both are delivered by the same machinery (delivery.py); each receiver knows its URL and secrets, which
earlier event of the call it must have had first, and where its health is shown: on the webhook
(``status``, ``recentFailures``) or on the call (``callbackDeliveries``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from callbridge.common.account_webhooks.models import (
    EVENT_ORDER,
    MAX_RECENT_FAILURES,
    UNHEALTHY_AFTER_FAILURES,
    Webhook,
    WebhookEvent,
    WebhookFailure,
    WebhookStatus,
)
from callbridge.common.account_webhooks.queue import Delivery, Progress
from callbridge.common.models.call import Call
from callbridge.common.models.callbacks import (
    CallbackDelivery,
    CallbackStatus,
    SealedCallback,
)
from callbridge.common.models.sealing import Decrypt
from callbridge.common.store import KvStore, NotFoundError


class Receiver(Protocol):
    @property
    def url(self) -> str: ...

    def secrets(self) -> list[str]:
        """The secrets in the clear (raises when they cannot be opened with this key)."""
        ...

    async def earlier_pending(self, state: Progress) -> bool:
        """Whether an earlier event of the call, which this receiver should get first, is not done yet."""
        ...

    async def record(self, failure: str | None, *, attempts: int, gave_up: bool) -> None:
        """Show the outcome of an attempt (``failure`` None: delivered)."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookReceiver:
    webhook: Webhook
    delivery: Delivery
    calls: KvStore[Call]
    webhooks: KvStore[Webhook]
    decrypt: Decrypt

    @property
    def url(self) -> str:
        return self.webhook.url

    def secrets(self) -> list[str]:
        return self.webhook.secrets(self.decrypt)

    async def earlier_pending(self, state: Progress) -> bool:
        """Judged by the call record (what happened to the call) and the webhook's creation time (a webhook
        created after an event never gets it)."""
        rank = EVENT_ORDER[self.delivery.event]
        earlier = [e for e in self.webhook.events if EVENT_ORDER[e] < rank and e not in state.done]
        if not earlier:
            return False
        found = await self.calls.find(str(self.delivery.call_id))
        if found is None:
            return False
        call = found.value
        happened = {WebhookEvent.STARTED: call.created, WebhookEvent.JOINED: call.joined}
        created = self.webhook.created
        return any((at := happened.get(event)) is not None and at >= created for event in earlier)

    async def record(self, failure: str | None, *, attempts: int, gave_up: bool) -> None:
        """A failure is recorded (and may make the webhook unhealthy); a success after failures heals it."""
        now = datetime.now(UTC)

        def change(webhook: Webhook) -> Webhook:
            if failure is None:
                return webhook.model_copy(
                    update={
                        "consecutive_failures": 0,
                        "status": WebhookStatus.NORMAL,
                        "last_status_change": now
                        if webhook.status is not WebhookStatus.NORMAL
                        else webhook.last_status_change,
                    }
                )
            failures = [*webhook.recent_failures, WebhookFailure(timestamp=now, failure=failure)]
            consecutive = webhook.consecutive_failures + 1
            unhealthy = consecutive >= UNHEALTHY_AFTER_FAILURES
            status = WebhookStatus.UNHEALTHY if unhealthy else webhook.status
            return webhook.model_copy(
                update={
                    "recent_failures": failures[-MAX_RECENT_FAILURES:],
                    "consecutive_failures": consecutive,
                    "status": status,
                    "last_status_change": now if status is not webhook.status else webhook.last_status_change,
                }
            )

        if failure is None:
            current = await self.webhooks.find(str(self.webhook.webhook_id))
            if current is None or (
                current.value.consecutive_failures == 0 and current.value.status is WebhookStatus.NORMAL
            ):
                return  # the common case: no write
        with contextlib.suppress(NotFoundError):
            await self.webhooks.mutate(str(self.webhook.webhook_id), change)


@dataclass(frozen=True, slots=True)
class CallbackReceiver:
    call: Call
    callback: SealedCallback
    delivery: Delivery
    calls: KvStore[Call]
    decrypt: Decrypt

    @property
    def url(self) -> str:
        return self.callback.url

    def secrets(self) -> list[str]:
        return self.callback.secrets(self.decrypt)

    async def earlier_pending(self, state: Progress) -> bool:
        """``ended`` waits for the ``joined`` callback when the call has one and was joined."""
        if self.delivery.event is not WebhookEvent.ENDED or WebhookEvent.JOINED in state.done:
            return False
        found = await self.calls.find(str(self.delivery.call_id))
        call = found.value if found is not None else self.call
        return call.callbacks is not None and call.callbacks.joined is not None and call.joined is not None

    async def record(self, failure: str | None, *, attempts: int, gave_up: bool) -> None:
        """On the call record (``callbackDeliveries``), where ``GET /api/calls/{id}`` shows it."""
        now = datetime.now(UTC)
        name = "joined" if self.delivery.event is WebhookEvent.JOINED else "ended"

        def change(call: Call) -> Call:
            current: CallbackDelivery = getattr(call.callback_deliveries, name) or CallbackDelivery()
            if failure is None:
                updated = current.model_copy(
                    update={"status": CallbackStatus.DELIVERED, "delivered": now, "failed_attempts": attempts}
                )
            else:
                failures = [*current.recent_failures, WebhookFailure(timestamp=now, failure=failure)]
                updated = current.model_copy(
                    update={
                        "status": CallbackStatus.GIVEN_UP if gave_up else CallbackStatus.PENDING,
                        "failed_attempts": attempts,
                        "recent_failures": failures[-MAX_RECENT_FAILURES:],
                    }
                )
            deliveries = call.callback_deliveries.model_copy(update={name: updated})
            return call.model_copy(update={"callback_deliveries": deliveries})

        with contextlib.suppress(NotFoundError):  # the call was deleted meanwhile
            await self.calls.mutate(str(self.delivery.call_id), change)
