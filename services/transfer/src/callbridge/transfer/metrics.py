"""Prometheus metrics of the transfer service, served on ``/metrics`` of its port."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from callbridge.common.loop_lag import lag_gauge

COMMANDS = Counter(
    "callbridge_transfer_commands_total",
    "Call-control commands handled, by command and what became of them (done, failed, already_claimed, "
    "retry, ...)",
    ["command", "outcome"],
)
COMMANDS_REJECTED = Counter(
    "callbridge_transfer_commands_rejected_total", "Call-control commands that could not be read, skipped"
)
PROVIDER_SECONDS = Histogram(
    "callbridge_transfer_provider_seconds",
    "How long the provider's REST API took to answer a call-control request",
    ["provider", "command"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROVIDER_HANGUPS = Counter(
    "callbridge_transfer_provider_hangups_total",
    "Provider calls hung up because their callbridge call ended on callbridge's side (agent or API "
    "hang-up, maxDuration, unjoined, canceled), by result",
    ["provider", "result"],
)
EVENT_LOOP_LAG = lag_gauge("transfer")
