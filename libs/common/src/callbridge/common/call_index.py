"""Newest-first listings that cost O(page) at millions of entries: chains of fixed-size pages in KV.

A *chain* is one listing in the order its entries were added: every call, one agent's calls, the calls that
ended with one reason, and so on (see call_listing.py). It is stored in one JetStream KV bucket as

- ``<chain>.head``: the open page: its number ``p`` and its entries so far (in order of addition);
- ``<chain>.page.<n>``: page ``n`` once it filled: its first ``PAGE_ENTRIES`` entries, written once.

Appending is a compare-and-set on the head; writers on any replica that lose it retry. Appends in one process
are grouped per chain, so a burst of N entries costs about N / PAGE_ENTRIES page writes and a handful of head
writes, not N round trips. A head holding ``PAGE_ENTRIES`` or more entries is sealed by whoever sees it: the
page document is ``entries[:PAGE_ENTRIES]``, which no later head of the same page can change (entries are
only ever appended), so a seal raced or repeated writes the same document, and the head then moves on to
page ``p + 1`` with the rest.

Reading newest first starts at the head and walks down the page numbers: a page of N results reads about
N / PAGE_ENTRIES + 1 documents, concurrently, however long the chain. A position is (page, offset): the
entries of that page before ``offset`` and every lower page come after it in a newest-first listing. Pages
expire with the bucket's max age (the retention), oldest first: a missing page ends the listing.

Time bounds (entries carry a millisecond timestamp, the chain's order key) are found by binary search over
page numbers, O(log pages) reads. Entries are in the order they were appended, which is the order of their
timestamps up to the small skew between writers on different replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple
from uuid import UUID

import orjson
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from callbridge.common.grouping import GroupCommitter
from callbridge.common.store import ConflictError, CorruptRecordError

logger = logging.getLogger(__name__)

PAGE_ENTRIES: Final = 64
"""Entries per page document: about 3 KB of JSON; a listing page of 100 reads 2-3 documents."""
MAX_BATCH: Final = 4 * PAGE_ENTRIES
"""Entries one head write may carry; a larger burst is written in several."""
MAX_ATTEMPTS: Final = 64
"""Compare-and-set attempts before an append gives up (each lost attempt means another writer won)."""
READ_AHEAD_PAGES: Final = 4
"""Page documents fetched concurrently while a listing walks down a chain."""


class IndexEntry(NamedTuple):
    """One listed item: its id, the chain's order key (ms since the epoch) and its creation time."""

    item_id: UUID
    at_ms: int
    created_ms: int

    def encode(self) -> list[object]:
        return [self.item_id.hex, self.at_ms, self.created_ms]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a newest-first listing continues: before ``offset`` in page ``page``."""

    page: int
    offset: int

    @property
    def ordinal(self) -> int:
        """The number of entries the chain had at this position (entries are numbered from 0)."""
        return self.page * PAGE_ENTRIES + self.offset

    @classmethod
    def of(cls, ordinal: int) -> Position:
        return cls(*divmod(max(0, ordinal), PAGE_ENTRIES))


@dataclass(frozen=True, slots=True)
class _Head:
    page: int
    entries: list[IndexEntry]
    removed: int
    revision: int  # 0: not written yet

    @property
    def end(self) -> Position:
        return Position.of(self.page * PAGE_ENTRIES + len(self.entries))


@dataclass(frozen=True, slots=True)
class ChainSlice:
    entries: list[IndexEntry]
    """Newest first."""
    next: Position | None
    """Where the next slice starts; None when the chain (within the bounds) is exhausted."""


class CallIndex:
    """Chains of entries in one KV bucket: grouped appends, newest-first reads, counts."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._writers: dict[str, GroupCommitter[IndexEntry, None]] = {}

    # -- writing ----------------------------------------------------------------------------------

    async def append(self, chain: str, entry: IndexEntry) -> None:
        """Add ``entry`` at the newest end of ``chain``; returns once it is stored. Appends to one chain
        from this process are written together (grouping.py)."""
        writer = self._writers.get(chain)
        if writer is None:

            async def commit(entries: Sequence[IndexEntry]) -> list[None]:
                await self._commit(chain, entries)
                return [None] * len(entries)

            writer = self._writers[chain] = GroupCommitter(commit, name=f"index-{chain}", max_batch=MAX_BATCH)
        try:
            await writer.submit(entry)
        finally:
            if writer.idle and self._writers.get(chain) is writer:
                del self._writers[chain]

    async def _commit(self, chain: str, entries: Sequence[IndexEntry]) -> None:
        for _ in range(MAX_ATTEMPTS):
            head = await self._head(chain)
            if len(head.entries) >= PAGE_ENTRIES:
                await self._seal(chain, head)
                continue
            grown = [*head.entries, *entries]
            if await self._write_head(chain, head.page, grown, head.removed, head.revision):
                return
        raise ConflictError(f"index chain {chain}: gave up after {MAX_ATTEMPTS} concurrent appends")

    async def note_removed(self, chain: str) -> None:
        """An entry of ``chain`` was deleted (its record is gone): counts no longer include it."""
        for _ in range(MAX_ATTEMPTS):
            head = await self._head(chain)
            if await self._write_head(chain, head.page, head.entries, head.removed + 1, head.revision):
                return
        raise ConflictError(f"index chain {chain}: gave up after {MAX_ATTEMPTS} concurrent updates")

    async def _seal(self, chain: str, head: _Head) -> None:
        """Write the full page of a head that holds one, then move the head on (both idempotent)."""
        document = orjson.dumps({"e": [entry.encode() for entry in head.entries[:PAGE_ENTRIES]]})
        with contextlib.suppress(KeyWrongLastSequenceError, BadRequestError):
            await self._kv.create(_page_key(chain, head.page), document)  # sealed already: same document
        await self._write_head(chain, head.page + 1, head.entries[PAGE_ENTRIES:], head.removed, head.revision)

    async def _write_head(
        self, chain: str, page: int, entries: list[IndexEntry], removed: int, revision: int
    ) -> bool:
        """Compare-and-set the head; False when another writer changed it first."""
        document = orjson.dumps({"p": page, "e": [entry.encode() for entry in entries], "r": removed})
        try:
            if revision == 0:
                await self._kv.create(_head_key(chain), document)
            else:
                await self._kv.update(_head_key(chain), document, last=revision)
        except (KeyWrongLastSequenceError, BadRequestError):
            return False
        return True

    # -- reading ----------------------------------------------------------------------------------

    async def _head(self, chain: str) -> _Head:
        try:
            entry = await self._kv.get(_head_key(chain))
        except KeyNotFoundError:
            return _Head(0, [], 0, 0)
        if entry.value is None:
            return _Head(0, [], 0, 0)
        try:
            data = orjson.loads(entry.value)
            return _Head(int(data["p"]), _entries(data["e"]), int(data.get("r", 0)), entry.revision or 0)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError("index head", chain, str(exc), entry.value) from exc

    async def _page(self, chain: str, page: int, head: _Head) -> list[IndexEntry] | None:
        """A page's entries in order of addition; None when it has expired (or does not exist).

        Pages from the head's on are read from the head, which may hold more than a page until it is
        sealed: its entries beyond ``PAGE_ENTRIES`` are the next page's."""
        if page >= head.page:
            first = (page - head.page) * PAGE_ENTRIES
            if first > len(head.entries):
                return None
            return head.entries[first : first + PAGE_ENTRIES]
        if page < 0:
            return None
        try:
            entry = await self._kv.get(_page_key(chain, page))
        except KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        try:
            return _entries(orjson.loads(entry.value)["e"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptRecordError("index page", f"{chain}/{page}", str(exc), entry.value) from exc

    async def count(self, chain: str) -> int:
        """Entries in the chain that have not expired or been removed."""
        head = await self._head(chain)
        oldest = await self._oldest_page(chain, head)
        return max(0, head.end.ordinal - oldest * PAGE_ENTRIES - head.removed)

    async def end(self, chain: str) -> Position:
        """The position after the chain's newest entry."""
        return (await self._head(chain)).end

    async def start(self, chain: str) -> int:
        """The ordinal of the chain's oldest entry still stored."""
        head = await self._head(chain)
        return await self._oldest_page(chain, head) * PAGE_ENTRIES

    async def _oldest_page(self, chain: str, head: _Head) -> int:
        """The lowest page number still stored: pages expire oldest first, so binary search."""
        if head.page == 0 or await self._page(chain, 0, head) is not None:
            return 0
        low, high = 0, head.page  # page `low` is gone, page `high` (the head) is there
        while high - low > 1:
            middle = (low + high) // 2
            if await self._page(chain, middle, head) is None:
                low = middle
            else:
                high = middle
        return high

    async def position_before(self, chain: str, at_ms: int) -> Position:
        """The position from which a newest-first listing yields only entries with ``at_ms`` below the
        bound (up to the skew between writers): O(log pages) reads."""
        head = await self._head(chain)

        async def below(page: int) -> bool:
            entries = await self._page(chain, page, head)
            return entries is None or (bool(entries) and entries[0].at_ms < at_ms)  # expired pages are old

        low, high = -1, head.end.page + 1  # below(low) holds, below(high) does not
        while high - low > 1:
            middle = (low + high) // 2
            if await below(middle):
                low = middle
            else:
                high = middle
        if low < 0:
            return Position(0, 0)
        entries = await self._page(chain, low, head) or []
        offset = 0
        while offset < len(entries) and entries[offset].at_ms < at_ms:
            offset += 1
        return Position(low, offset)

    async def read(
        self,
        chain: str,
        before: Position | None,
        limit: int,
        *,
        at_after_ms: int | None = None,
    ) -> ChainSlice:
        """Up to ``limit`` entries newest first, starting before ``before`` (None: the newest), stopping at
        entries whose ``at_ms`` is below ``at_after_ms``."""
        head = await self._head(chain)
        start = _normalise(before or head.end, head)
        results: list[IndexEntry] = []
        page, offset = start.page, start.offset
        pages: dict[int, asyncio.Task[list[IndexEntry] | None]] = {}
        try:
            while page >= 0:
                for ahead in range(page, max(-1, page - READ_AHEAD_PAGES), -1):
                    if ahead not in pages:
                        pages[ahead] = asyncio.create_task(
                            self._page(chain, ahead, head), name=f"index-page-{chain}-{ahead}"
                        )
                entries = await pages.pop(page)
                if entries is None:
                    return ChainSlice(results, None)
                for index in range(min(offset, len(entries)) - 1, -1, -1):
                    entry = entries[index]
                    if at_after_ms is not None and entry.at_ms < at_after_ms:
                        return ChainSlice(results, None)
                    if len(results) == limit:
                        return ChainSlice(results, Position(page, index + 1))
                    results.append(entry)
                page, offset = page - 1, PAGE_ENTRIES
            return ChainSlice(results, None)
        finally:
            for task in pages.values():
                task.cancel()
            if pages:
                await asyncio.gather(*pages.values(), return_exceptions=True)


def _normalise(position: Position, head: _Head) -> Position:
    """Within the chain, with its offset inside one page."""
    return Position.of(min(position.ordinal, head.end.ordinal))


def _entries(raw: object) -> list[IndexEntry]:
    if not isinstance(raw, list):
        raise TypeError("entries is not a list")
    return [IndexEntry(UUID(hex=str(item[0])), int(item[1]), int(item[2])) for item in raw]


def _head_key(chain: str) -> str:
    return f"{chain}.head"


def _page_key(chain: str, page: int) -> str:
    return f"{chain}.page.{page}"
