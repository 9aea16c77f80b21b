"""Prometheus metrics of account webhook delivery (every replica that runs a WebhookDispatcher)."""

from __future__ import annotations

from prometheus_client import Counter

ATTEMPTS = Counter(
    "callbridge_webhook_delivery_attempts_total",
    "POSTs to account webhook receivers, by outcome (ok: a 2xx; failed: anything else)",
    ["outcome"],
)
DELIVERIES = Counter(
    "callbridge_webhook_deliveries_total",
    "Call events delivered to an account webhook, or given up after every attempt, by event",
    ["event", "outcome"],
)
