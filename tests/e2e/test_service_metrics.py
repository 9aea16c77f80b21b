"""Every service exports how late its event loop runs (``callbridge_<service>_event_loop_lag_seconds``): a
loop held up by blocking work shows on the gauge of each service that runs on it. The embedded stack runs
webhooks, media, the dialer and the transfer service on one loop, so one stall moves all four."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from callbridge.common.loop_lag import LAG_INTERVAL_S
from callbridge.devkit.stack import RunningStack

STALL_S = 1.0
"""Longer than a monitor's tick, so whichever point of its tick the stall begins at, the tick ends at
least ``STALL_S - LAG_INTERVAL_S`` late."""


def _gauge(text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


async def _lags(stack: RunningStack) -> dict[str, float | None]:
    urls = {
        "webhooks": stack.webhooks_url,
        "media": stack.media_url.replace("ws://", "http://"),
        "dialer": stack.dialer_url,
        "transfer": stack.transfer_url,
    }
    async with httpx.AsyncClient() as client:
        return {
            service: _gauge(
                (await client.get(f"{url}/metrics")).text, f"callbridge_{service}_event_loop_lag_seconds"
            )
            for service, url in urls.items()
        }


async def test_a_stalled_loop_shows_on_every_services_lag_gauge(stack: RunningStack) -> None:
    before = await _lags(stack)
    assert all(value is not None for value in before.values()), before
    time.sleep(STALL_S)  # noqa: ASYNC251 (the point: blocking work holds up the services' loop)
    async with asyncio.timeout(10.0):
        while True:
            lags = await _lags(stack)
            if all(value is not None and value >= STALL_S - LAG_INTERVAL_S for value in lags.values()):
                break
            await asyncio.sleep(0.1)  # each monitor holds its value for a tick
