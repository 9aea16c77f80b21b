"""Where batches live: one KV bucket, the batch record apart from its calls, the calls in chunks.

Keys of ``callbridge_batches`` (ids in hex):

- ``b.<batch>``: the batch (``StoredBatch``): settings, paused, endedAt; small, read on every decision.
- ``a.<agent>.<batch>``: an empty marker, so an agent's batches are listed without reading the others.
- ``c.<batch>.<n>``: chunk ``n`` of its calls, at most CHUNK_MAX_CALLS calls and CHUNK_MAX_BYTES bytes:
  a 100,000-call batch is ~400 records, none near NATS's message limit, and a change to one call rewrites
  one chunk. Each call's state (status, attempts, next attempt) is in its chunk; changes are
  compare-and-set on the chunk's revision.
- ``p.<batch>``: progress: each chunk's status counts at a revision (a newer revision replaces an older
  one, so a count written twice or late never goes back), and the latest attempts' outcomes (auto-pause).
- ``l.<batch>.<n>``: the lease of a scheduler replica on chunk ``n`` (owner, expiry): only the holder
  places the chunk's calls; an expired lease is taken over.

The bucket ``callbridge_batch_attempts`` maps a call id to the batch, call and attempt it was placed for,
so that a call's ``ended`` event finds its scheduled call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import Field

from callbridge.common.grouping import GroupCommitter
from callbridge.common.models.base import StoredModel
from callbridge.common.models.batch import ScheduledCall, ScheduledCallStatus, StoredBatch
from callbridge.common.store import (
    ConflictError,
    KvStore,
    NotFoundError,
    UnchangedError,
    Versioned,
    check_fits,
)

CHUNK_MAX_CALLS = 256
CHUNK_MAX_BYTES = 256 * 1024
"""A chunk's calls as JSON: a quarter of NATS's default 1 MiB message, so a chunk always fits."""
RECENT_OUTCOMES = 100
"""How many of the latest attempts' outcomes progress keeps (auto-pause looks at up to 100)."""
CREATE_CONCURRENCY = 32
"""Chunk writes in flight while a batch is created."""


class BatchChunk(StoredModel):
    calls: list[ScheduledCall]


class ChunkCounts(StoredModel):
    revision: int
    counts: dict[ScheduledCallStatus, int] = Field(default_factory=dict)


class BatchProgress(StoredModel):
    chunks: dict[int, ChunkCounts] = Field(default_factory=dict)
    recent_failures: list[bool] = Field(default_factory=list)
    """The latest finished attempts, oldest first: True for one that failed (busy, no answer, failed)."""

    def counts(self) -> dict[ScheduledCallStatus, int]:
        total = dict.fromkeys(ScheduledCallStatus, 0)
        for chunk in self.chunks.values():
            for status, count in chunk.counts.items():
                total[status] += count
        return total

    def unfinished_chunks(self) -> list[int]:
        return sorted(
            number
            for number, chunk in self.chunks.items()
            if chunk.counts.get(ScheduledCallStatus.FUTURE, 0)
            or chunk.counts.get(ScheduledCallStatus.PENDING, 0)
        )


class Lease(StoredModel):
    owner: str
    expires_ms: int


class AttemptLink(StoredModel):
    """What a call was placed for."""

    batch_id: UUID
    chunk: int
    index: int
    attempt: int


def chunk_counts(chunk: BatchChunk, revision: int) -> ChunkCounts:
    counts: dict[ScheduledCallStatus, int] = {}
    for call in chunk.calls:
        counts[call.status] = counts.get(call.status, 0) + 1
    return ChunkCounts(revision=revision, counts=counts)


def split_chunks(calls: Sequence[bytes]) -> list[list[bytes]]:
    """Consecutive runs of at most CHUNK_MAX_CALLS calls (each as stored JSON) and CHUNK_MAX_BYTES each."""
    chunks: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for call in calls:
        if current and (len(current) >= CHUNK_MAX_CALLS or size + len(call) + 1 > CHUNK_MAX_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(call)
        size += len(call) + 1
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True, slots=True)
class _ProgressNote:
    chunk: int
    counts: ChunkCounts
    failures: tuple[bool, ...]


class BatchStore:
    """Batches, their chunks, progress, leases and attempt links."""

    def __init__(self, kv: KeyValue, attempts: KeyValue) -> None:
        self._kv = kv
        self.batches: KvStore[StoredBatch] = KvStore(kv, StoredBatch)
        self.chunks: KvStore[BatchChunk] = KvStore(kv, BatchChunk)
        self.progress_records: KvStore[BatchProgress] = KvStore(kv, BatchProgress)
        self.leases: KvStore[Lease] = KvStore(kv, Lease)
        self.attempts: KvStore[AttemptLink] = KvStore(attempts, AttemptLink)
        self._progress_writers: dict[UUID, GroupCommitter[_ProgressNote, None]] = {}

    # -- batches ---------------------------------------------------------------------------------------

    async def create(self, batch: StoredBatch, calls: Sequence[bytes]) -> StoredBatch:
        """Store the chunks and progress first and the batch record last: a scheduler sees a batch only
        once every call of it is stored. ``calls``: each call as stored JSON (``stored_calls``), joined
        into chunks as they are: 100,000 calls are not built and serialised again one by one."""
        chunks = split_chunks(calls)
        progress = BatchProgress()
        limit = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def write(number: int, chunk_calls: list[bytes]) -> None:
            data = b'{"calls":[' + b",".join(chunk_calls) + b"]}"
            check_fits(f"chunk {number} of the batch's calls", data, self.chunks.max_payload)
            async with limit:
                try:
                    revision = await self._kv.create(_chunk_key(batch.batch_id, number), data)
                except (KeyWrongLastSequenceError, BadRequestError) as exc:
                    raise ConflictError(f"chunk {number} of batch {batch.batch_id} exists") from exc
            counts = {ScheduledCallStatus.FUTURE: len(chunk_calls)}
            progress.chunks[number] = ChunkCounts(revision=revision, counts=counts)

        await asyncio.gather(*(write(number, chunk) for number, chunk in enumerate(chunks)))
        await self.progress_records.put(_progress_key(batch.batch_id), progress)
        stored = batch.model_copy(update={"chunk_count": len(chunks), "total_count": len(calls)})
        await self.batches.create(_batch_key(batch.batch_id), stored)
        await self._kv.put(_agent_key(batch.agent_id, batch.batch_id), b"1")
        return stored

    async def get(self, batch_id: UUID) -> Versioned[StoredBatch]:
        found = await self.batches.get(_batch_key(batch_id))
        if found.value.deleted:
            raise NotFoundError(str(batch_id))
        return found

    async def change(self, batch_id: UUID, change: Callable[[StoredBatch], StoredBatch]) -> StoredBatch:
        return (await self.batches.mutate(_batch_key(batch_id), change)).value

    async def agent_batch_ids(self, agent_id: UUID) -> list[UUID]:
        """The agent's batches, newest first (batch ids are UUIDv7: they sort by creation)."""
        keys = await self._keys(f"a.{agent_id.hex}.*")
        return sorted((UUID(hex=key.rsplit(".", 1)[1]) for key in keys), reverse=True)

    async def batch_ids(self) -> list[UUID]:
        """Every batch stored, oldest first, and some deleted ones (reading those says NotFound)."""
        return sorted(UUID(hex=key[2:]) for key in await self._keys("b.*", present_only=False))

    async def delete(self, batch: StoredBatch) -> None:
        """Mark the batch deleted first (schedulers stop placing its calls at their next look), then remove
        its records."""

        def mark(current: StoredBatch) -> StoredBatch:
            return current.model_copy(update={"deleted": True})

        await self.batches.mutate(_batch_key(batch.batch_id), mark)
        with contextlib.suppress(NotFoundError):
            await self._kv.delete(_agent_key(batch.agent_id, batch.batch_id))
        for number in range(batch.chunk_count):
            for key in (_chunk_key(batch.batch_id, number), _lease_key(batch.batch_id, number)):
                with contextlib.suppress(NotFoundError):
                    await self.chunks.delete(key)
        with contextlib.suppress(NotFoundError):
            await self.progress_records.delete(_progress_key(batch.batch_id))
        await self.batches.delete(_batch_key(batch.batch_id))

    # -- chunks and progress ---------------------------------------------------------------------------

    async def chunk(self, batch_id: UUID, number: int) -> Versioned[BatchChunk]:
        return await self.chunks.get(_chunk_key(batch_id, number))

    async def chunk_if_changed(
        self, batch_id: UUID, number: int, known_revision: int
    ) -> Versioned[BatchChunk] | None:
        """The chunk, or None when it is still at ``known_revision`` (not parsed again)."""
        key = _chunk_key(batch_id, number)
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            raise NotFoundError(key) from None
        if not entry.value:
            raise NotFoundError(key)
        if entry.revision == known_revision:
            return None
        return Versioned(BatchChunk.model_validate_json(entry.value), entry.revision or 0)

    async def write_chunk(self, batch_id: UUID, number: int, chunk: BatchChunk, revision: int) -> int:
        """Replace the chunk if still at ``revision`` (ConflictError otherwise)."""
        return await self.chunks.update(_chunk_key(batch_id, number), chunk, revision)

    async def mutate_chunk(
        self, batch_id: UUID, number: int, change: Callable[[BatchChunk], BatchChunk]
    ) -> Versioned[BatchChunk]:
        """Compare-and-set ``change`` on chunk ``number`` (it may raise UnchangedError)."""
        return await self.chunks.mutate(_chunk_key(batch_id, number), change)

    async def clear_recent_failures(self, batch_id: UUID) -> None:
        """Forget the outcomes auto-pause judges (a batch resumed is judged afresh)."""

        def clear(progress: BatchProgress) -> BatchProgress:
            if not progress.recent_failures:
                raise UnchangedError
            return progress.model_copy(update={"recent_failures": []})

        with contextlib.suppress(NotFoundError):
            await self.progress_records.mutate(_progress_key(batch_id), clear)

    async def progress(self, batch_id: UUID) -> BatchProgress:
        found = await self.progress_records.find(_progress_key(batch_id))
        return found.value if found is not None else BatchProgress()

    async def note_progress(
        self, batch_id: UUID, number: int, chunk: BatchChunk, revision: int, failures: Sequence[bool] = ()
    ) -> None:
        """Record chunk ``number``'s counts at ``revision`` (kept only if newer than what is there) and the
        outcomes of attempts that just finished. Notes from one process are written together."""
        writer = self._progress_writers.get(batch_id)
        if writer is None:

            async def commit(notes: Sequence[_ProgressNote]) -> list[None]:
                await self._commit_progress(batch_id, notes)
                return [None] * len(notes)

            writer = self._progress_writers[batch_id] = GroupCommitter(commit, name=f"progress-{batch_id}")
        await writer.submit(_ProgressNote(number, chunk_counts(chunk, revision), tuple(failures)))

    async def _commit_progress(self, batch_id: UUID, notes: Sequence[_ProgressNote]) -> None:
        def apply(progress: BatchProgress) -> BatchProgress:
            chunks = dict(progress.chunks)
            recent = list(progress.recent_failures)
            changed = False
            for note in notes:
                known = chunks.get(note.chunk)
                if known is None or known.revision < note.counts.revision:
                    chunks[note.chunk] = note.counts
                    changed = True
                if note.failures:
                    recent.extend(note.failures)
                    changed = True
            if not changed:
                raise UnchangedError
            return BatchProgress(chunks=chunks, recent_failures=recent[-RECENT_OUTCOMES:])

        with contextlib.suppress(NotFoundError):  # the batch was deleted
            await self.progress_records.mutate(_progress_key(batch_id), apply)

    # -- leases ----------------------------------------------------------------------------------------

    async def take_lease(self, batch_id: UUID, number: int, owner: str, now_ms: int, ttl_ms: int) -> bool:
        """Take chunk ``number`` for ``owner`` until ``now_ms + ttl_ms``: when free, expired, or its own
        already (then renewed). Compare-and-set: of two replicas asking at once, one gets it."""
        key = _lease_key(batch_id, number)
        lease = Lease(owner=owner, expires_ms=now_ms + ttl_ms)
        found = await self.leases.find(key)
        try:
            if found is None:
                await self.leases.create(key, lease)
                return True
            if found.value.owner != owner and found.value.expires_ms > now_ms:
                return False
            await self.leases.update(key, lease, found.revision)
        except ConflictError:
            return False
        return True

    async def drop_lease(self, batch_id: UUID, number: int, owner: str) -> None:
        key = _lease_key(batch_id, number)
        found = await self.leases.find(key)
        if found is not None and found.value.owner == owner:
            with contextlib.suppress(ConflictError):
                await self.leases.update(key, Lease(owner="", expires_ms=0), found.revision)

    # -- attempt links ---------------------------------------------------------------------------------

    async def link(self, call_id: UUID, link: AttemptLink) -> None:
        await self.attempts.put(call_id.hex, link)

    async def find_link(self, call_id: UUID) -> AttemptLink | None:
        found = await self.attempts.find_readable(call_id.hex)
        return None if found is None else found.value

    async def _keys(self, pattern: str, *, present_only: bool = True) -> list[str]:
        """Keys matching ``pattern`` (NATS wildcards), from the stream's subjects: one request. nats-py has
        no public handle to the stream, hence the private attributes (as store.bucket_keys)."""
        prefix = f"$KV.{self._kv._name}."
        info = await self._kv._js.stream_info(self._kv._stream, subjects_filter=f"{prefix}{pattern}")
        keys = [subject[len(prefix) :] for subject in info.state.subjects or {}]
        if not present_only:  # deleted keys included: the caller's read of each says NotFound
            return keys
        return [key for key in keys if await self._present(key)]

    async def _present(self, key: str) -> bool:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:  # KeyDeletedError too (a subclass): a deleted key
            return False
        return bool(entry.value)


def _batch_key(batch_id: UUID) -> str:
    return f"b.{batch_id.hex}"


def _agent_key(agent_id: UUID, batch_id: UUID) -> str:
    return f"a.{agent_id.hex}.{batch_id.hex}"


def _chunk_key(batch_id: UUID, number: int) -> str:
    return f"c.{batch_id.hex}.{number}"


def _progress_key(batch_id: UUID) -> str:
    return f"p.{batch_id.hex}"


def _lease_key(batch_id: UUID, number: int) -> str:
    return f"l.{batch_id.hex}.{number}"
