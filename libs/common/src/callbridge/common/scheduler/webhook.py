"""Telling a batch's webhook of a call it places itself (a call without an ``outgoing`` medium), signed as
Ultravox signs webhooks (reference §8.1): ``X-Ultravox-Webhook-Timestamp`` and
``X-Ultravox-Webhook-Signature = hex(HMAC-SHA256(secret, body + timestamp))``.

Ultravox does not retry these; callbridge does, a few times with a doubling wait, on a network error, a
timeout, 408, 429 or a 5xx. Any 2xx is a delivery. A redelivery after a replica died is possible, so the
receiver should treat the call id as the idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Ultravox-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Ultravox-Webhook-Signature"
_RETRYABLE = {408, 425, 429}


def sign(secret: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    attempts: int = 5
    first_wait_s: float = 1.0
    timeout_s: float = 10.0


class WebhookFailedError(Exception):
    """Every delivery attempt failed; the message says how the last one did."""


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: WebhookPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._policy = policy or WebhookPolicy()
        self._clock = clock

    async def deliver(self, url: str, secret: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        wait_s = self._policy.first_wait_s
        last = "not sent"
        for attempt in range(1, self._policy.attempts + 1):
            timestamp = str(int(self._clock()))  # signed anew per try: receivers refuse stale timestamps
            headers = {
                "content-type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(secret, body, timestamp),
            }
            try:
                response = await self._client.post(
                    url, content=body, headers=headers, timeout=self._policy.timeout_s
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"[:200]
            else:
                if response.is_success:
                    return
                last = f"answered {response.status_code}"
                if response.status_code < 500 and response.status_code not in _RETRYABLE:
                    break
            if attempt < self._policy.attempts:
                logger.info("webhook %s: %s; retrying in %.1f s", url, last, wait_s)
                await asyncio.sleep(wait_s)  # the backoff between deliveries, not a wait for a condition
                wait_s *= 2
        raise WebhookFailedError(f"webhook {url}: {last}")
