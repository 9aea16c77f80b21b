"""Prometheus metrics of the dialer service, served on ``/metrics`` of the dialer's port."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from callbridge.common.loop_lag import lag_gauge
from callbridge.common.scheduler import Scheduler

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
EVENT_LOOP_LAG = lag_gauge("dialer")


class SchedulerCollector(Collector):
    """The scheduler's own counts (``Scheduler.stats``), read at each scrape: the schedulers running in this
    process (one in a dialer; the embedded stack or a test may run more), summed."""

    _COUNTS = (
        ("ticks", "ticks", "Scheduling passes over the active batches"),
        ("decisions", "decisions", "Waiting calls decided: placed, expired or left to wait"),
        ("calls_placed", "placed", "Call attempts placed"),
        ("calls_expired", "expired", "Scheduled calls expired (their window or the batch's ended)"),
        ("claim_conflicts", "conflicts", "Chunks another replica changed first (decided again)"),
        ("placements_deferred", "deferred", "Placements an account refused for want of a line (tried later)"),
    )

    def __init__(self) -> None:
        self._schedulers: list[Scheduler] = []

    def track(self, scheduler: Scheduler) -> None:
        self._schedulers.append(scheduler)

    def untrack(self, scheduler: Scheduler) -> None:
        if scheduler in self._schedulers:
            self._schedulers.remove(scheduler)

    def collect(self) -> Iterator[Metric]:
        stats = [scheduler.stats for scheduler in self._schedulers]
        for name, attribute, documentation in self._COUNTS:
            yield CounterMetricFamily(
                f"callbridge_scheduler_{name}",
                documentation,
                value=sum(getattr(one, attribute) for one in stats),
            )
        yield CounterMetricFamily(
            "callbridge_scheduler_decide_seconds",
            "Time spent deciding and admitting calls (placements excluded)",
            value=sum(one.decide_seconds for one in stats),
        )


SCHEDULERS = SchedulerCollector()
REGISTRY.register(SCHEDULERS)
