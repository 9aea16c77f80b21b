"""Prometheus metrics of the dialer service, served on ``/metrics`` of the dialer's port."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DIAL_REQUESTS = Counter(
    "callbridge_dialer_requests_total",
    "Dial requests handled, by what became of them (dialed, failed, ambiguous, ended, already_claimed, ...)",
    ["outcome"],
)
DIAL_TRIES = Counter(
    "callbridge_dialer_provider_refusals_total",
    "Dials the provider refused for its limits or an error of its own and that were tried again",
    ["provider", "kind"],
)
DIAL_SECONDS = Histogram(
    "callbridge_dialer_dial_seconds",
    "How long the provider took to accept a dial (each try)",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUESTS_REJECTED = Counter(
    "callbridge_dialer_requests_rejected_total", "Dial requests that could not be read, skipped"
)
SLOTS_SWEPT = Counter(
    "callbridge_dialer_slots_swept_total", "Account slots of ended calls released by the sweep", ["account"]
)
