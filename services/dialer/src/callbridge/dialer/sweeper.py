"""The capacity sweep: account slots whose calls ended without giving them back (the replica that ended
them died between the two writes) are released, so a lost release costs a slot for one sweep interval,
never for good."""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

from callbridge.common.capacity import CapacityLedger
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.common.store import CorruptRecordError, KvStore
from callbridge.dialer import metrics

logger = logging.getLogger(__name__)

UNSTORED_GRACE_S = 60.0
"""A slot whose call has no record is released only this long after it was taken: the factory takes the
slot a moment before it stores the call."""


async def sweep_accounts(
    capacity: CapacityLedger, calls: KvStore[Call], now_s: float | None = None
) -> dict[str, int]:
    """Release every account's slots of calls that ended or never were; the count released per account."""
    now_ms = int((now_s if now_s is not None else time.time()) * 1000)
    released: dict[str, int] = {}
    for provider in Provider:
        account = provider.value
        ledger = await capacity.usage(account)
        taken_ms = {**ledger.inbound, **ledger.outbound}
        if not taken_ms:
            continue

        async def has_ended(call_id: UUID, taken: dict[UUID, int] = taken_ms) -> bool:
            try:
                found = await calls.find(str(call_id))
            except CorruptRecordError:
                return False  # unreadable is not ended: the slot stays until someone deletes the record
            if found is None:
                return now_ms - taken[call_id] > UNSTORED_GRACE_S * 1000
            return found.value.ended is not None

        count = await capacity.sweep(account, has_ended)
        if count:
            metrics.SLOTS_SWEPT.labels(account).inc(count)
            logger.warning("released %d slots of %s calls that had ended", count, account)
            released[account] = count
    return released


async def sweep_forever(capacity: CapacityLedger, calls: KvStore[Call], interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)  # a period, not a wait for something: the sweep runs on a timer
        try:
            await sweep_accounts(capacity, calls)
        except Exception:
            logger.exception("capacity sweep failed")
