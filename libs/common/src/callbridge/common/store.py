"""A small typed store over JetStream key-value buckets, with compare-and-set for racing writers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

MAX_CAS_ATTEMPTS = 8


class StoreError(Exception):
    """Base of the store's errors."""


class NotFoundError(StoreError):
    """No record under that key."""


class ConflictError(StoreError):
    """The record changed since it was read (compare-and-set lost), or it already exists."""


class CorruptRecordError(StoreError):
    """A stored record does not parse as its model."""


class UnchangedError(StoreError):
    """Raised by a mutation to say: leave the record as it is."""


@dataclass(frozen=True, slots=True)
class Versioned(Generic[M]):
    value: M
    revision: int


class KvStore(Generic[M]):
    """Records of one model in one bucket, keyed by a string id."""

    def __init__(self, kv: KeyValue, model: type[M]) -> None:
        self._kv = kv
        self._model = model

    async def get(self, key: str) -> Versioned[M]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            raise NotFoundError(key) from None
        if entry.value is None:
            raise NotFoundError(key)
        try:
            value = self._model.model_validate_json(entry.value)
        except ValidationError as exc:
            raise CorruptRecordError(f"{self._model.__name__} {key}: {exc}") from exc
        return Versioned(value, entry.revision or 0)

    async def find(self, key: str) -> Versioned[M] | None:
        try:
            return await self.get(key)
        except NotFoundError:
            return None

    async def find_readable(self, key: str) -> Versioned[M] | None:
        """The record, or None when it is missing or cannot be read (logged): for listings, where one
        unreadable record must not hide the others."""
        try:
            return await self.get(key)
        except NotFoundError:
            return None
        except CorruptRecordError as exc:
            logger.error("skipping unreadable record: %s", exc)
            return None

    async def create(self, key: str, value: M) -> int:
        """Store a new record; ConflictError when the key is already taken."""
        try:
            return await self._kv.create(key, _dump(value))
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            raise ConflictError(f"{key} already exists") from exc

    async def update(self, key: str, value: M, revision: int) -> int:
        """Replace the record only if it is still at ``revision``."""
        try:
            return await self._kv.update(key, _dump(value), last=revision)
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            raise ConflictError(f"{key} changed since revision {revision}") from exc

    async def put(self, key: str, value: M) -> int:
        return await self._kv.put(key, _dump(value))

    async def delete(self, key: str) -> None:
        await self.get(key)  # NotFoundError for an unknown key
        await self._kv.delete(key)

    async def mutate(self, key: str, change: Callable[[M], M] | Callable[[M], Awaitable[M]]) -> Versioned[M]:
        """Read, apply ``change`` and write back with compare-and-set, retrying when another writer won.

        ``change`` may raise UnchangedError to leave the record untouched (the current one is returned).
        """
        for _ in range(MAX_CAS_ATTEMPTS):
            current = await self.get(key)
            try:
                result = change(current.value)
                new = await result if isinstance(result, Awaitable) else result
            except UnchangedError:
                return current
            try:
                revision = await self.update(key, new, current.revision)
            except ConflictError:
                continue
            return Versioned(new, revision)
        raise ConflictError(f"{key}: gave up after {MAX_CAS_ATTEMPTS} concurrent updates")

    async def keys(self) -> list[str]:
        """Every key that holds a record (deleted keys excluded)."""
        return [key for key in await self._subject_keys() if await self.find(key) is not None]

    async def all(self) -> list[M]:
        records: list[M] = []
        for key in await self._subject_keys():
            found = await self.find(key)
            if found is not None:
                records.append(found.value)
        return records

    async def _subject_keys(self) -> list[str]:
        return await bucket_keys(self._kv)


async def bucket_keys(kv: KeyValue) -> list[str]:
    """The keys a bucket's stream has messages for, deleted ones included (with their delete marker).

    nats-py's ``KeyValue.keys()`` ends its watcher when the consumer reports nothing pending, which can
    happen before the client has counted the entries already sent: it then returns no keys at all. The
    stream's per-subject state has no such race. nats-py has no public handle to the stream or its
    JetStream context, hence the private attributes.
    """
    prefix = f"$KV.{kv._name}."
    info = await kv._js.stream_info(kv._stream, subjects_filter=f"{prefix}>")
    return sorted(subject[len(prefix) :] for subject in info.state.subjects or {})


def _dump(value: BaseModel) -> bytes:
    return value.model_dump_json(by_alias=True).encode()
