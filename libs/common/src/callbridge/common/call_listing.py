"""Which calls a listing shows, newest first, at O(page) cost whatever the number of stored calls.

Each call is entered in index chains (call_index.py) when it is created and when it ends:

- when it is created, ordered by creation: ``created.all`` and ``created.agent.<agentId>``;
- when it ends, ordered by end: ``ended.all``, ``ended.reason.<endReason>``, ``ended.agent.<agentId>`` and
  ``ended.agent.<agentId>.reason.<endReason>``;

and kept in the live-call stream (live_calls.py) while it has not ended. A listing picks
the one chain that matches its filters: live calls come from the live bucket (never more than the calls in
progress), ended ones from an ``ended`` chain, all others from a ``created`` chain. A call is entered after
its record is written, so a listing never shows a call that cannot be read; a process that dies between
writing a call's end and entering it leaves the call among the live ones, where the next live listing (or the
deadline consumer) finds it ended and finishes the entry (``repair``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

from callbridge.common.call_index import CallIndex, IndexEntry, Position
from callbridge.common.live_calls import LiveCalls
from callbridge.common.models.call import Call, EndReason
from callbridge.common.store import KvStore

logger = logging.getLogger(__name__)

NO_AGENT: Final = "none"
"""The agent part of a chain name for calls created without an agent (``POST /api/calls``)."""
MAX_SCAN_FACTOR: Final = 20
"""A listing reads at most this many entries per result asked for; past that (a filter the chain cannot
serve, such as createdBefore on ended calls), it returns what it found with a cursor to go on."""
MAX_CALL_SPAN: Final = timedelta(hours=26)
"""The longest a call can live from creation to end (joinTimeout + maxDuration, both capped, plus the
deadline consumer's grace): an ended call was created at most this long before it ended."""


class CallStatus(enum.StrEnum):
    """Whether a call goes on (``live``: it has not ended) or has ``ended``."""

    LIVE = "live"
    ENDED = "ended"


class InvalidCursorError(ValueError):
    """A listing cursor that this service did not issue (or issued for other filters)."""


@dataclass(frozen=True, slots=True)
class CallQuery:
    """The filters of a call listing; all optional."""

    agent_id: UUID | None = None
    end_reason: EndReason | None = None
    status: CallStatus | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def __post_init__(self) -> None:
        if self.end_reason is not None and self.status is CallStatus.LIVE:
            raise ValueError("a live call has no endReason: filter by one or the other")

    @property
    def ended_only(self) -> bool:
        return self.status is CallStatus.ENDED or self.end_reason is not None

    def chain(self) -> str:
        agent = str(self.agent_id) if self.agent_id is not None else None
        if self.ended_only:
            return ended_chain(agent, self.end_reason)
        return created_chain(agent)

    def admits(self, call: Call) -> bool:
        """Whether a call read back matches every filter (the chain guarantees the main one)."""
        if self.agent_id is not None and call.agent_id != self.agent_id:
            return False
        if self.end_reason is not None and call.end_reason is not self.end_reason:
            return False
        if self.status is CallStatus.LIVE and call.ended is not None:
            return False
        if self.status is CallStatus.ENDED and call.ended is None:
            return False
        if self.created_after is not None and call.created < self.created_after:
            return False
        return not (self.created_before is not None and call.created >= self.created_before)


@dataclass(frozen=True, slots=True)
class CallListingPage:
    results: list[Call]
    next_cursor: str | None
    total: int
    previous_cursor: str | None = None
    """The cursor of the page before this one; None when that is the first page (or there is none)."""
    has_previous: bool = False


def created_chain(agent_id: str | None) -> str:
    return "created.all" if agent_id is None else f"created.agent.{agent_id}"


def ended_chain(agent_id: str | None, reason: EndReason | None) -> str:
    base = "ended.all" if agent_id is None else f"ended.agent.{agent_id}"
    if reason is None:
        return base
    return f"ended.reason.{reason.value}" if agent_id is None else f"{base}.reason.{reason.value}"


def _created_chains(call: Call) -> list[str]:
    return [created_chain(None), created_chain(_agent_part(call))]


def _ended_chains(call: Call, reason: EndReason) -> list[str]:
    agent = _agent_part(call)
    return [
        ended_chain(None, None),
        ended_chain(None, reason),
        ended_chain(agent, None),
        ended_chain(agent, reason),
    ]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class CallListing:
    """The call index and the live-call set, as the call's writers and the listing routes use them."""

    def __init__(self, calls: KvStore[Call], index: CallIndex, live: LiveCalls) -> None:
        self._calls = calls
        self._index = index
        self._live = live

    # -- entering calls ---------------------------------------------------------------------------

    async def created(self, call: Call) -> None:
        """Enter a call whose record has just been created."""
        await self._live.add(_agent_part(call), call.call_id)
        entry = IndexEntry(call.call_id, _ms(call.created), _ms(call.created))
        await asyncio.gather(*(self._index.append(chain, entry) for chain in _created_chains(call)))

    async def ended(self, call: Call) -> None:
        """Enter a call whose record has just been made final."""
        if call.ended is None or call.end_reason is None:
            raise ValueError(f"call {call.call_id} has not ended")
        entry = IndexEntry(call.call_id, _ms(call.ended), _ms(call.created))
        await asyncio.gather(
            *(self._index.append(chain, entry) for chain in _ended_chains(call, call.end_reason))
        )
        await self._live.remove(_agent_part(call), call.call_id)

    async def removed(self, call: Call) -> None:
        """A call's record was deleted: take it out of the counts (listings skip it already)."""
        chains = _created_chains(call)
        if call.end_reason is not None:
            chains += _ended_chains(call, call.end_reason)
        await asyncio.gather(*(self._index.note_removed(chain) for chain in chains))
        await self._live.remove(_agent_part(call), call.call_id)

    async def repair(self, call: Call) -> None:
        """Finish entering an ended call that is still in the live bucket (its writer died)."""
        if call.ended is None or not await self._live.contains(_agent_part(call), call.call_id):
            return
        logger.warning("call %s ended but was not indexed as ended: entering it now", call.call_id)
        await self.ended(call)

    # -- listing ----------------------------------------------------------------------------------

    async def page(self, query: CallQuery, cursor: str | None, page_size: int) -> CallListingPage:
        if query.status is CallStatus.LIVE:
            return await self._live_page(query, cursor, page_size)
        chain = query.chain()
        before = _decode_cursor(cursor, chain) if cursor else None
        upper, lower = await self._bounds(query, chain)
        if before is None or (upper is not None and before.ordinal > upper.ordinal):
            before = upper
        results: list[Call] = []
        seen: set[UUID] = set()
        next_position: Position | None = before
        at_after_ms = self._lower_at_ms(query)
        budget = page_size * MAX_SCAN_FACTOR
        while len(results) < page_size and budget > 0:
            want = page_size - len(results)
            chunk = await self._index.read(chain, next_position, want, at_after_ms=at_after_ms)
            budget -= max(want, len(chunk.entries))
            calls = await self._read_calls(entry.item_id for entry in chunk.entries)
            for call in calls:
                # Missing: deleted or past retention. Seen: an entry repeated by a repair.
                if call is not None and call.call_id not in seen and query.admits(call):
                    seen.add(call.call_id)
                    results.append(call)
            next_position = chunk.next
            if next_position is None:
                break
        total = await self._total(chain, upper, lower)
        next_cursor = _encode_cursor(next_position, chain) if next_position is not None else None
        previous_cursor = None
        if cursor and before is not None:
            # The page before starts page_size entries newer (exact when no entry was filtered out).
            top = upper if upper is not None else await self._index.end(chain)
            previous = before.ordinal + page_size
            if previous < top.ordinal:
                previous_cursor = _encode_cursor(Position.of(previous), chain)
        return CallListingPage(
            results, next_cursor, total, previous_cursor=previous_cursor, has_previous=bool(cursor)
        )

    async def _bounds(self, query: CallQuery, chain: str) -> tuple[Position | None, Position | None]:
        """Positions of the created-time bounds in the chain (None: the chain's end or start)."""
        upper = lower = None
        if query.created_before is not None:
            bound = query.created_before
            if query.ended_only:  # ordered by end: a call ended at most MAX_CALL_SPAN after its creation
                bound += MAX_CALL_SPAN
            upper = await self._index.position_before(chain, _ms(bound))
        if query.created_after is not None:
            # Ordered by end, too: a call that ended before createdAfter was created before it.
            lower = await self._index.position_before(chain, _ms(query.created_after))
        return upper, lower

    @staticmethod
    def _lower_at_ms(query: CallQuery) -> int | None:
        # In an ended chain, entries that ended before createdAfter cannot have been created after it.
        return None if query.created_after is None else _ms(query.created_after)

    async def _total(self, chain: str, upper: Position | None, lower: Position | None) -> int:
        """Exact for a chain ordered by creation; for an ended chain with created bounds, the calls that
        ended within the bounds widened by MAX_CALL_SPAN (an upper bound)."""
        if upper is None and lower is None:
            return await self._index.count(chain)
        end = upper.ordinal if upper is not None else (await self._index.end(chain)).ordinal
        start = lower.ordinal if lower is not None else await self._index.start(chain)
        return max(0, end - start)

    async def _read_calls(self, call_ids: Iterable[UUID]) -> list[Call | None]:
        found = await asyncio.gather(*(self._calls.find_readable(str(call_id)) for call_id in call_ids))
        return [versioned.value if versioned is not None else None for versioned in found]

    async def _live_page(self, query: CallQuery, cursor: str | None, page_size: int) -> CallListingPage:
        """Live calls, from the live stream's subjects (no more than the calls in progress), newest first
        by the time in their ids; only the page's records are read."""
        candidates = sorted(
            (
                call_id
                for agent, call_id in await self._live.all()
                if query.agent_id is None or agent == str(query.agent_id)
            ),
            key=_id_order,
            reverse=True,
        )
        offset = _decode_cursor(cursor, "live").ordinal if cursor else 0
        results: list[Call] = []
        position = offset
        while len(results) < page_size and position < len(candidates):
            batch = candidates[position : position + page_size - len(results)]
            position += len(batch)
            for call in await self._read_calls(batch):
                if call is None:
                    continue
                if call.ended is not None:
                    await self.repair(call)
                elif query.admits(call):
                    results.append(call)
        more = position < len(candidates)
        next_cursor = _encode_cursor(Position.of(position), "live") if more else None
        previous_cursor = (
            _encode_cursor(Position.of(offset - page_size), "live") if offset - page_size > 0 else None
        )
        return CallListingPage(
            results,
            next_cursor,
            len(candidates),
            previous_cursor=previous_cursor,
            has_previous=offset > 0,
        )


def _agent_part(call: Call) -> str:
    return str(call.agent_id) if call.agent_id is not None else NO_AGENT


def _id_order(call_id: UUID) -> tuple[int, int]:
    """Call ids are UUIDv7 (time first), so their order is their creation order; older random ids sort
    after them."""
    return (call_id.int >> 80, call_id.int) if call_id.version == 7 else (0, call_id.int)


def _encode_cursor(position: Position, chain: str) -> str:
    text = f"{chain}:{position.ordinal}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, chain: str) -> Position:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("invalid cursor") from None
    name, _, number = text.rpartition(":")
    if name != chain or not number.isdigit():
        raise InvalidCursorError("invalid cursor (or one issued for other filters)")
    return Position.of(int(number))
