"""Account capacity against a real nats-server: the cap holds under concurrency, inbound reservations and
the per-second start rate are kept, slots come back when calls end."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest
from nats.aio.client import Client

from callbridge.common.capacity import AccountLimits, CapacityLedger, Ledger
from callbridge.common.store import KvStore


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def ledgers(nats_client: Client, clean_jetstream: None) -> KvStore[Ledger]:
    return KvStore(await nats_client.jetstream().create_key_value(bucket="test_capacity", history=1), Ledger)


async def test_the_cap_holds_when_two_replicas_race_for_the_last_slots(ledgers: KvStore[Ledger]) -> None:
    first, second = CapacityLedger(ledgers), CapacityLedger(ledgers)
    limits = AccountLimits(max_concurrent_calls=10)
    results = await asyncio.gather(
        *((first if n % 2 else second).admit_outbound("twilio", limits, [uuid4()]) for n in range(40))
    )
    admitted = [call for result in results for call in result.admitted]
    assert len(admitted) == 10
    assert len((await first.usage("twilio")).outbound) == 10
    refused = [result for result in results if not result.admitted]
    assert all(result.retry_after_s is not None and result.reason for result in refused)


async def test_outbound_calls_leave_the_reserved_lines_to_inbound_calls(ledgers: KvStore[Ledger]) -> None:
    ledger = CapacityLedger(ledgers)
    limits = AccountLimits(max_concurrent_calls=10, reserved_inbound_calls=3)
    batch = [uuid4() for _ in range(10)]
    admission = await ledger.admit_outbound("plivo", limits, batch)
    assert admission.admitted == batch[:7]
    assert admission.reason is not None
    assert "3 kept for inbound" in admission.reason
    # Inbound calls are counted, never refused, even past the lines.
    for _ in range(4):
        await ledger.hold_inbound("plivo", uuid4())
    assert len((await ledger.usage("plivo")).inbound) == 4
    # 4 outbound and 4 inbound hold 8 of the 10 lines (outbound may use 7): two more outbound calls fit,
    # then every line is in use.
    await ledger.release("plivo", batch[:3])
    more = await ledger.admit_outbound("plivo", limits, [uuid4(), uuid4(), uuid4()])
    assert len(more.admitted) == 2
    assert more.reason == "all 10 of the account's lines are in use"


async def test_calls_per_second_are_limited_and_the_wait_is_said(ledgers: KvStore[Ledger]) -> None:
    clock = ManualClock()
    ledger = CapacityLedger(ledgers, clock)
    limits = AccountLimits(max_calls_per_second=5)
    first = await ledger.admit_outbound("telnyx", limits, [uuid4() for _ in range(8)])
    assert len(first.admitted) == 5
    assert first.retry_after_s == pytest.approx(1.0)
    clock.now_s += 0.4
    assert (await ledger.admit_outbound("telnyx", limits, [uuid4()])).retry_after_s == pytest.approx(0.6)
    clock.now_s += 0.6
    assert len((await ledger.admit_outbound("telnyx", limits, [uuid4() for _ in range(5)])).admitted) == 5


async def test_release_is_idempotent_and_a_repeated_admission_keeps_its_one_slot(
    ledgers: KvStore[Ledger],
) -> None:
    ledger = CapacityLedger(ledgers)
    limits = AccountLimits(max_concurrent_calls=2)
    call = uuid4()
    assert (await ledger.admit_outbound("exotel", limits, [call])).admitted == [call]
    assert (await ledger.admit_outbound("exotel", limits, [call])).admitted == [call]  # a retried request
    assert len((await ledger.usage("exotel")).outbound) == 1
    await ledger.release("exotel", [call])
    await ledger.release("exotel", [call])
    await ledger.release("nobody", [call])
    assert (await ledger.usage("exotel")).outbound == {}


async def test_a_sweep_frees_the_slots_of_calls_that_ended_without_releasing(
    ledgers: KvStore[Ledger],
) -> None:
    ledger = CapacityLedger(ledgers)
    calls = [uuid4() for _ in range(4)]
    await ledger.admit_outbound("twilio", AccountLimits(), calls[:3])
    await ledger.hold_inbound("twilio", calls[3])
    ended = {calls[0], calls[3]}

    async def has_ended(call_id: UUID) -> bool:
        return call_id in ended

    assert await ledger.sweep("twilio", has_ended) == 2
    usage = await ledger.usage("twilio")
    assert set(usage.outbound) == {calls[1], calls[2]}
    assert usage.inbound == {}
