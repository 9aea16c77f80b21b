"""Call throttles (Ultravox's ``/api/call_throttles``): sliding-window limits on how many calls start.

A throttle is a name and rules, each "at most ``maxCalls`` calls in any ``windowSeconds``". It applies to
call creation (``?throttle=``) and to batches (``throttle``). Its *usage* record keeps, per rule, the start
times of the last ``maxCalls`` calls (at most 100 each): a call may start when, for every rule, fewer than
``maxCalls`` of those are within the window. Taking a start is a compare-and-set on that record (grouped
per process, see grouping.py), so replicas share the limit exactly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import Field

from callbridge.common.grouping import GroupCommitter
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.store import ConflictError, KvStore, NotFoundError, UnchangedError


class ThrottleRule(ApiModel):
    """At most ``maxCalls`` calls may start in any window of ``windowSeconds``."""

    max_calls: int = Field(ge=1, le=100, description="How many calls may start in one window, 1 to 100.")
    window_seconds: int = Field(ge=1, le=86_400, description="The window, 1 s to 1 day.")


class CallThrottleCreate(ApiModel):
    """A new throttle (``POST /api/call_throttles``) or its replacement (``PUT``)."""

    name: str = Field(min_length=1, max_length=64, description="A name to refer to it by, unique.")
    rules: list[ThrottleRule] = Field(
        min_length=1, max_length=10, description="Every rule must allow a call for it to start."
    )


class CallThrottleUpdate(ApiModel):
    """Changes to a throttle (``PATCH``): what is given replaces what was there."""

    name: str | None = Field(default=None, min_length=1, max_length=64, description="A new name.")
    rules: list[ThrottleRule] | None = Field(
        default=None, min_length=1, max_length=10, description="New rules."
    )


class CallThrottle(StoredModel):
    """A throttle."""

    throttle_id: UUID = Field(description="The throttle's id.")
    name: str = Field(description="Its name: ``?throttle=`` and a batch's ``throttle`` take it or the id.")
    created: datetime = Field(description="When it was created (UTC).")
    rules: list[ThrottleRule] = Field(description="Every rule must allow a call for it to start.")


class ThrottleUsage(StoredModel):
    """Start times (ms since the epoch) of the last calls, per rule (as ``<maxCalls>x<windowSeconds>``)."""

    starts: dict[str, list[int]] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ThrottleDecision:
    allowed: int
    """How many of the calls asked for may start now (the first ones)."""
    retry_after_s: float | None
    """When the next one may start, if not all could."""


_Take = tuple[Sequence[ThrottleRule], int]
"""A request to start ``count`` calls under these rules."""


def _rule_key(rule: ThrottleRule) -> str:
    return f"{rule.max_calls}x{rule.window_seconds}"


class ThrottleLedger:
    """The usage of every throttle, one record per throttle id."""

    def __init__(self, usage: KvStore[ThrottleUsage], clock: Callable[[], float] | None = None) -> None:
        self._usage = usage
        self._clock = clock or time.time  # wall clock: the record is shared by replicas
        self._committers: dict[str, GroupCommitter[_Take, ThrottleDecision]] = {}

    async def take(self, throttle: CallThrottle, count: int = 1) -> ThrottleDecision:
        """Record the start of up to ``count`` calls under ``throttle``'s rules; how many it allowed."""
        key = str(throttle.throttle_id)
        committer = self._committers.get(key)
        if committer is None:

            async def commit(batch: Sequence[_Take]) -> list[ThrottleDecision]:
                return await self._commit(key, batch)

            committer = self._committers[key] = GroupCommitter(commit, name=f"throttle-{key}")
        return await committer.submit((throttle.rules, count))

    async def forget(self, throttle_id: UUID) -> None:
        """Drop a deleted throttle's usage."""
        with contextlib.suppress(NotFoundError):
            await self._usage.delete(str(throttle_id))

    async def _commit(self, key: str, batch: Sequence[_Take]) -> list[ThrottleDecision]:
        if await self._usage.find(key) is None:
            with contextlib.suppress(ConflictError):
                await self._usage.create(key, ThrottleUsage())
        decisions: list[ThrottleDecision] = []

        def apply(usage: ThrottleUsage) -> ThrottleUsage:
            decisions.clear()
            now_ms = int(self._clock() * 1000)
            starts = {name: list(times) for name, times in usage.starts.items()}
            for rules, count in batch:
                decisions.append(_take(starts, rules, count, now_ms))
            if starts == usage.starts:
                raise UnchangedError
            return ThrottleUsage(starts=starts)

        await self._usage.mutate(key, apply)
        return decisions


def _take(
    starts: dict[str, list[int]], rules: Sequence[ThrottleRule], count: int, now_ms: int
) -> ThrottleDecision:
    allowed = 0
    retry_after_s: float | None = None
    while allowed < count:
        wait_s = 0.0
        for rule in rules:
            window_ms = rule.window_seconds * 1000
            recent = [at for at in starts.get(_rule_key(rule), []) if now_ms - at < window_ms]
            if len(recent) >= rule.max_calls:
                # The oldest start that keeps this rule full leaves the window first.
                frees_at = recent[len(recent) - rule.max_calls] + window_ms
                wait_s = max(wait_s, (frees_at - now_ms) / 1000)
        if wait_s > 0:
            retry_after_s = wait_s
            break
        for rule in rules:
            name = _rule_key(rule)
            kept = [at for at in starts.get(name, []) if now_ms - at < rule.window_seconds * 1000]
            starts[name] = [*kept, now_ms][-rule.max_calls :]
        allowed += 1
    return ThrottleDecision(allowed, retry_after_s)


class ThrottleName(StoredModel):
    """``name.<hex of the name>`` in the throttles bucket: which throttle holds a name (names are unique)."""

    throttle_id: UUID


class ThrottleNotFoundError(LookupError):
    """No throttle with that name or id."""


class ThrottleRegistry:
    """Throttles by id, and the index that keeps their names unique (both in one bucket)."""

    def __init__(self, throttles: KvStore[CallThrottle], names: KvStore[ThrottleName]) -> None:
        self._throttles = throttles
        self._names = names

    async def get(self, throttle_id: UUID) -> CallThrottle | None:
        found = await self._throttles.find(_id_key(throttle_id))
        return None if found is None else found.value

    async def add(self, throttle: CallThrottle) -> bool:
        """Store a new throttle; False when its name is taken."""
        if not await self.claim_name(throttle.name, throttle.throttle_id):
            return False
        await self._throttles.create(_id_key(throttle.throttle_id), throttle)
        return True

    async def change(self, throttle_id: UUID, change: Callable[[CallThrottle], CallThrottle]) -> CallThrottle:
        """Apply ``change`` (NotFoundError for an unknown id); a new name must have been claimed."""
        before = await self._throttles.get(_id_key(throttle_id))
        after = (await self._throttles.mutate(_id_key(throttle_id), change)).value
        if after.name != before.value.name:
            await self.release_name(before.value.name, throttle_id)
        return after

    async def remove(self, throttle_id: UUID) -> None:
        """Delete a throttle and free its name (NotFoundError for an unknown id)."""
        throttle = (await self._throttles.get(_id_key(throttle_id))).value
        await self._throttles.delete(_id_key(throttle_id))
        await self.release_name(throttle.name, throttle_id)

    async def resolve(self, reference: str) -> CallThrottle:
        """A throttle by its id or its name (``?throttle=`` and a batch's ``throttle`` take either)."""
        try:
            found = await self.get(UUID(reference))
        except ValueError:
            found = None
        if found is None:
            link = await self._names.find(_name_key(reference))
            if link is not None:
                found = await self.get(link.value.throttle_id)
        if found is None:
            raise ThrottleNotFoundError(f"no call throttle named or with id {reference[:80]!r}")
        return found

    async def claim_name(self, name: str, throttle_id: UUID) -> bool:
        """Take ``name`` for ``throttle_id``; False when another throttle holds it."""
        try:
            await self._names.create(_name_key(name), ThrottleName(throttle_id=throttle_id))
        except ConflictError:
            holder = await self._names.find(_name_key(name))
            return holder is not None and holder.value.throttle_id == throttle_id
        return True

    async def release_name(self, name: str, throttle_id: UUID) -> None:
        holder = await self._names.find(_name_key(name))
        if holder is not None and holder.value.throttle_id == throttle_id:
            with contextlib.suppress(NotFoundError):
                await self._names.delete(_name_key(name))

    async def all(self) -> list[CallThrottle]:
        return [
            found.value
            for key in await self._throttles.keys()
            if key.startswith("id.") and (found := await self._throttles.find_readable(key)) is not None
        ]


def _id_key(throttle_id: UUID) -> str:
    return f"id.{throttle_id}"


def _name_key(name: str) -> str:
    return f"name.{name.encode().hex()}"  # any name, as a key of KV's alphabet
