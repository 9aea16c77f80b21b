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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import Field

from callbridge.common.grouping import GroupCommitter
from callbridge.common.models.base import StoredModel
from callbridge.common.store import ConflictError, KvStore, UnchangedError

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


@dataclass(frozen=True, slots=True)
class _Admit:
    limits: AccountLimits
    calls: list[UUID]


@dataclass(frozen=True, slots=True)
class _Hold:
    call_id: UUID


@dataclass(frozen=True, slots=True)
class _Release:
    call_ids: frozenset[UUID]


_Change = _Admit | _Hold | _Release


class CapacityLedger:
    """The ledgers of every account, in one KV bucket keyed by account (``<provider>``).

    Changes from one process to one account are grouped (grouping.py): a burst of admissions and releases
    is one compare-and-set, and replicas race only with each other."""

    def __init__(self, ledgers: KvStore[Ledger], clock: Callable[[], float] | None = None) -> None:
        """``clock``: wall-clock seconds since the epoch (the ledger is shared by replicas, so it is the
        wall clock, not a monotonic one)."""
        self._ledgers = ledgers
        self._clock = clock or time.time
        self._committers: dict[str, GroupCommitter[_Change, Admission | None]] = {}

    async def admit_outbound(self, account: str, limits: AccountLimits, calls: list[UUID]) -> Admission:
        """Take a slot for as many of ``calls`` as the limits allow, in order, atomically."""
        result = await self._submit(account, _Admit(limits, list(calls)))
        assert result is not None  # an admission always answers
        return result

    async def hold_inbound(self, account: str, call_id: UUID) -> None:
        """Count an inbound call against the account's lines (never refused: the provider took it)."""
        await self._submit(account, _Hold(call_id))

    async def release(self, account: str, call_ids: Iterable[UUID]) -> None:
        """Free the slots of calls that ended; idempotent."""
        await self._submit(account, _Release(frozenset(call_ids)))

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

    async def _submit(self, account: str, change: _Change) -> Admission | None:
        committer = self._committers.get(account)
        if committer is None:

            async def commit(batch: Sequence[_Change]) -> list[Admission | None]:
                return await self._commit(account, batch)

            committer = self._committers[account] = GroupCommitter(commit, name=f"capacity-{account}")
        return await committer.submit(change)

    async def _commit(self, account: str, batch: Sequence[_Change]) -> list[Admission | None]:
        """Apply every change of ``batch`` in order in one compare-and-set."""
        if await self._ledgers.find(account) is None:
            with contextlib.suppress(ConflictError):  # created meanwhile by another replica
                await self._ledgers.create(account, Ledger())
        results: list[Admission | None] = []

        def apply(current: Ledger) -> Ledger:
            results.clear()
            now = self._now_ms()
            ledger = _Working(current, now)
            for change in batch:
                if isinstance(change, _Admit):
                    results.append(ledger.admit(change.limits, change.calls))
                elif isinstance(change, _Hold):
                    ledger.inbound.setdefault(change.call_id, now)
                    results.append(None)
                else:
                    for call_id in change.call_ids:
                        ledger.inbound.pop(call_id, None)
                        ledger.outbound.pop(call_id, None)
                    results.append(None)
            if not ledger.changed(current):
                raise UnchangedError
            return ledger.record()

        await self._ledgers.mutate(account, apply)
        return results

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


class _Working:
    """A ledger being changed by one batch."""

    def __init__(self, ledger: Ledger, now_ms: int) -> None:
        self.now_ms = now_ms
        self.inbound = dict(ledger.inbound)
        self.outbound = dict(ledger.outbound)
        self.recent = [at for at in ledger.recent_starts if now_ms - at < RATE_WINDOW_MS]

    def admit(self, limits: AccountLimits, calls: list[UUID]) -> Admission:
        admitted: list[UUID] = []
        for call_id in calls:
            if call_id in self.outbound:  # asked again (a retried request): it holds its slot already
                admitted.append(call_id)
                continue
            full = _full(limits, len(self.inbound), len(self.outbound))
            if full is not None:
                return Admission(admitted, CONCURRENCY_POLL_S, full)
            rate = limits.max_calls_per_second
            if rate is not None and len(self.recent) + 1 > rate:
                oldest = self.recent[len(self.recent) - max(1, math.floor(rate))]
                wait_s = max(0.001, (oldest + RATE_WINDOW_MS - self.now_ms) / 1000)
                return Admission(admitted, wait_s, f"at most {rate:g} calls may start per second")
            self.outbound[call_id] = self.now_ms
            self.recent.append(self.now_ms)
            admitted.append(call_id)
        return Admission(admitted, None)

    def changed(self, ledger: Ledger) -> bool:
        return self.inbound != ledger.inbound or self.outbound != ledger.outbound

    def record(self) -> Ledger:
        return Ledger(inbound=self.inbound, outbound=self.outbound, recent_starts=self.recent)


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
