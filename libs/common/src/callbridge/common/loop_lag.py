"""How late a service's event loop runs, on a gauge every service exports.

A coroutine sleeps ``LAG_INTERVAL_S`` on the loop's own clock and sets the gauge to how much later than that
it woke: CPU-bound work or a blocking call on the loop shows up here before it shows up as late audio or
slow answers. Each service owns its gauge (``callbridge_<service>_event_loop_lag_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from prometheus_client import Gauge

LAG_INTERVAL_S: Final = 0.5
STOP_TIMEOUT_S: Final = 1.0


def lag_gauge(service: str) -> Gauge:
    """The service's gauge; create it once, at module level, beside the service's other metrics."""
    return Gauge(
        f"callbridge_{service}_event_loop_lag_seconds",
        f"How late the last {LAG_INTERVAL_S:g} s tick of the {service} service's event loop fired",
    )


async def monitor_loop_lag(gauge: Gauge, interval_s: float = LAG_INTERVAL_S) -> None:
    """Set ``gauge`` to the lateness of each tick, until cancelled."""
    # The loop's own clock, the one its sleeps run on (uvloop's is not time.monotonic()'s precision).
    clock = asyncio.get_running_loop().time
    while True:
        before = clock()
        await asyncio.sleep(interval_s)
        gauge.set(max(0.0, clock() - before - interval_s))


@contextlib.asynccontextmanager
async def loop_lag_monitored(gauge: Gauge) -> AsyncIterator[None]:
    """Monitor the running loop's lag on ``gauge`` while the block runs."""
    task = asyncio.create_task(monitor_loop_lag(gauge), name="event-loop-lag")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
