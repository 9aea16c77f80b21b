"""The capacity sweep against a real nats-server: slots of calls that ended without giving them back are
released; slots of calls still going on, and of calls just admitted and not stored yet, are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from nats.aio.client import Client

from callbridge.common.capacity import AccountLimits, CapacityLedger, Ledger
from callbridge.common.models.call import Call, EndReason
from callbridge.common.store import KvStore
from callbridge.dialer.sweeper import UNSTORED_GRACE_S, sweep_accounts

NOW_S = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now_s = NOW_S

    def __call__(self) -> float:
        return self.now_s


async def test_the_sweep_releases_only_slots_whose_calls_are_over(
    nats_client: Client, clean_jetstream: None
) -> None:
    js = nats_client.jetstream()
    ledgers = KvStore(await js.create_key_value(bucket="test_sweep_capacity", history=1), Ledger)
    calls = KvStore(await js.create_key_value(bucket="test_sweep_calls", history=1), Call)
    clock = Clock()
    capacity = CapacityLedger(ledgers, clock)
    ended, live, unstored_old, unstored_new, inbound_ended = (uuid4() for _ in range(5))
    created = datetime.now(UTC)
    for call_id, finished in ((ended, True), (live, False), (inbound_ended, True)):
        call = Call(call_id=call_id, created=created)
        if finished:
            call = call.model_copy(update={"ended": created, "end_reason": EndReason.HANGUP})
        await calls.create(str(call_id), call)
    limits = AccountLimits(max_concurrent_calls=10)
    await capacity.admit_outbound("twilio", limits, [ended, live, unstored_old])
    await capacity.hold_inbound("twilio", inbound_ended)
    clock.now_s = NOW_S + UNSTORED_GRACE_S + 1
    await capacity.admit_outbound("twilio", limits, [unstored_new])

    released = await sweep_accounts(capacity, calls, now_s=clock.now_s)

    assert released == {"twilio": 3}
    usage = await capacity.usage("twilio")
    assert set(usage.outbound) == {live, unstored_new}
    assert usage.inbound == {}
    assert await sweep_accounts(capacity, calls, now_s=clock.now_s) == {}
