"""How many calls a provider account may carry at once and start per second, enforced across replicas.

Each provider account has limits (its telephony config's ``maxConcurrentCalls``, ``maxCallsPerSecond`` and
``reservedInboundCalls``) and one *ledger* record in the ``callbridge_capacity`` bucket: the calls holding a
slot, inbound and outbound, and the start times of the last second's outbound calls. Taking slots is a
compare-and-set on that record, so no two replicas can both take the last slot: the cap holds under any
concurrency. Outbound calls may use at most ``maxConcurrentCalls - reservedInboundCalls`` slots, and never
one that an inbound call holds; inbound calls are counted (they use the account's lines) but never
refused here, since the provider has already accepted them.

A slot is released when its call ends (``finish_call``); ``sweep`` releases slots whose calls ended without
releasing them (a replica that died), judged by the call records.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import Field

from callbridge.common.models.base import StoredModel
from callbridge.common.store import ConflictError, KvStore, NotFoundError, UnchangedError

Direction = Literal["inbound", "outbound"]

RATE_WINDOW_MS = 1000


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """An account's limits; None: no limit of that kind."""

    max_concurrent_calls: int | None = None
    max_calls_per_second: float | None = None
    reserved_inbound_calls: int = 0

    @property
    def outbound_cap(self) -> int | None:
        """The most outbound calls at once: the account's lines less those kept for inbound calls."""
        if self.max_concurrent_calls is None:
            return None
        return max(0, self.max_concurrent_calls - self.reserved_inbound_calls)


class Ledger(StoredModel):
    """One account's calls holding a slot (call id -> when it took it, ms since the epoch: compact, as the
    record is rewritten with every change) and its recent outbound starts."""

    inbound: dict[UUID, int] = Field(default_factory=dict)
    outbound: dict[UUID, int] = Field(default_factory=dict)
    recent_starts: list[int] = Field(default_factory=list)
    """Start times (ms) of outbound calls within the last RATE_WINDOW, oldest first."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What an attempt to take slots got: the calls admitted, and when to try again for the rest."""

    admitted: list[UUID]
    retry_after_s: float | None
    """None when everything asked for was admitted; else the seconds until a slot may be free (the rate
    window's turn; for the concurrency cap, a slot frees when a call ends, so a short poll)."""
    reason: str | None = None


CONCURRENCY_POLL_S = 1.0
"""What Retry-After says when the account is full: slots free as calls end, at no predictable time."""


class CapacityLedger:
    """The ledgers of every account, in one KV bucket keyed by account (``<provider>``)."""

    def __init__(self, ledgers: KvStore[Ledger], clock: Callable[[], float] | None = None) -> None:
        """``clock``: wall-clock seconds since the epoch (the ledger is shared by replicas, so it is the
        wall clock, not a monotonic one)."""
        self._ledgers = ledgers
        self._clock = clock or time.time

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def admit_outbound(self, account: str, limits: AccountLimits, calls: list[UUID]) -> Admission:
        """Take a slot for as many of ``calls`` as the limits allow, in order, atomically."""
        now = self._now_ms()
        result: list[Admission] = []

        def take(ledger: Ledger) -> Ledger:
            result.clear()
            admitted: list[UUID] = []
            recent = [at for at in ledger.recent_starts if now - at < RATE_WINDOW_MS]
            outbound = dict(ledger.outbound)
            retry_after: float | None = None
            reason: str | None = None
            for call_id in calls:
                if call_id in outbound:  # asked again (a retried request): it holds its slot already
                    admitted.append(call_id)
                    continue
                full = _full(limits, len(ledger.inbound), len(outbound))
                if full is not None:
                    retry_after, reason = CONCURRENCY_POLL_S, full
                    break
                if limits.max_calls_per_second is not None and len(recent) + 1 > limits.max_calls_per_second:
                    oldest = recent[len(recent) - math.floor(limits.max_calls_per_second)]
                    retry_after = max(0.001, (oldest + RATE_WINDOW_MS - now) / 1000)
                    reason = f"at most {limits.max_calls_per_second:g} calls may start per second"
                    break
                outbound[call_id] = now
                recent.append(now)
                admitted.append(call_id)
            result.append(Admission(admitted, retry_after, reason))
            if not any(call_id not in ledger.outbound for call_id in admitted):
                raise UnchangedError
            return ledger.model_copy(update={"outbound": outbound, "recent_starts": recent})

        await self._mutate(account, take)
        return result[0]

    async def hold_inbound(self, account: str, call_id: UUID) -> None:
        """Count an inbound call against the account's lines (never refused: the provider took it)."""
        now = self._now_ms()

        def hold(ledger: Ledger) -> Ledger:
            if call_id in ledger.inbound:
                raise UnchangedError
            return ledger.model_copy(update={"inbound": {**ledger.inbound, call_id: now}})

        await self._mutate(account, hold)

    async def release(self, account: str, call_ids: Iterable[UUID]) -> None:
        """Free the slots of calls that ended; idempotent."""
        ended = set(call_ids)

        def free(ledger: Ledger) -> Ledger:
            if not ended & (ledger.inbound.keys() | ledger.outbound.keys()):
                raise UnchangedError
            return ledger.model_copy(
                update={
                    "inbound": {k: v for k, v in ledger.inbound.items() if k not in ended},
                    "outbound": {k: v for k, v in ledger.outbound.items() if k not in ended},
                }
            )

        try:
            await self._ledgers.mutate(account, free)
        except NotFoundError:
            return

    async def usage(self, account: str) -> Ledger:
        found = await self._ledgers.find(account)
        return found.value if found is not None else Ledger()

    async def sweep(self, account: str, has_ended: Callable[[UUID], Awaitable[bool]]) -> int:
        """Release the slots of calls that have ended (per ``has_ended``) without releasing them."""
        ledger = await self.usage(account)
        stale = [call_id for call_id in (*ledger.inbound, *ledger.outbound) if await has_ended(call_id)]
        if stale:
            await self.release(account, stale)
        return len(stale)

    async def _mutate(self, account: str, change: Callable[[Ledger], Ledger]) -> None:
        if await self._ledgers.find(account) is None:
            with contextlib.suppress(ConflictError):  # created meanwhile by another replica
                await self._ledgers.create(account, Ledger())
        await self._ledgers.mutate(account, change)


def _full(limits: AccountLimits, inbound: int, outbound: int) -> str | None:
    """Why one more outbound call does not fit, or None."""
    cap = limits.outbound_cap
    if cap is not None and outbound + 1 > cap:
        reserved = limits.reserved_inbound_calls
        kept = f" ({reserved} kept for inbound calls)" if reserved else ""
        return f"{outbound} outbound calls in progress, the most the account allows{kept}"
    total = limits.max_concurrent_calls
    if total is not None and inbound + outbound + 1 > total:
        return f"all {total} of the account's lines are in use"
    return None
