"""Call throttles against a real nats-server: sliding windows, every rule, shared by replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from nats.aio.client import Client

from callbridge.common.store import KvStore
from callbridge.common.throttles import CallThrottle, ThrottleLedger, ThrottleRule, ThrottleUsage


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now_s


def throttle(*rules: tuple[int, int]) -> CallThrottle:
    return CallThrottle(
        throttle_id=uuid4(),
        name="t",
        created=datetime.now(UTC),
        rules=[ThrottleRule(max_calls=calls, window_seconds=window) for calls, window in rules],
    )


@pytest.fixture
async def usage(nats_client: Client, clean_jetstream: None) -> KvStore[ThrottleUsage]:
    kv = await nats_client.jetstream().create_key_value(bucket="test_throttles", history=1)
    return KvStore(kv, ThrottleUsage)


async def test_a_window_slides_and_says_when_the_next_call_may_start(usage: KvStore[ThrottleUsage]) -> None:
    clock = ManualClock()
    ledger = ThrottleLedger(usage, clock)
    limit = throttle((3, 10))
    assert (await ledger.take(limit, 5)).allowed == 3
    clock.now_s += 4
    refused = await ledger.take(limit)
    assert refused.allowed == 0
    assert refused.retry_after_s == pytest.approx(6.0)
    clock.now_s += 6
    assert (await ledger.take(limit, 5)).allowed == 3


async def test_every_rule_must_allow_the_call(usage: KvStore[ThrottleUsage]) -> None:
    clock = ManualClock()
    ledger = ThrottleLedger(usage, clock)
    limit = throttle((2, 1), (3, 60))  # 2 a second, 3 a minute
    assert (await ledger.take(limit, 2)).allowed == 2
    clock.now_s += 1
    decision = await ledger.take(limit, 2)
    assert decision.allowed == 1  # the minute rule has one start left
    assert decision.retry_after_s == pytest.approx(59.0)


async def test_replicas_share_the_limit_exactly(usage: KvStore[ThrottleUsage]) -> None:
    clock = ManualClock()
    first, second = ThrottleLedger(usage, clock), ThrottleLedger(usage, clock)
    limit = throttle((7, 60))
    decisions = await asyncio.gather(*((first if n % 2 else second).take(limit) for n in range(30)))
    assert sum(decision.allowed for decision in decisions) == 7
