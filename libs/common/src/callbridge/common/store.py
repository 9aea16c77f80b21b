"""A small typed store over JetStream key-value buckets, with compare-and-set for racing writers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 8
HEADERS_ALLOWANCE_BYTES = 4096
"""Room left in a NATS message for its headers: the server counts headers and payload against
``max_payload``, and closes the connection of a client that sends more."""


class StoreError(Exception):
    """Base of the store's errors."""


class NotFoundError(StoreError):
    """No record under that key."""


class ConflictError(StoreError):
    """The record changed since it was read (compare-and-set lost), or it already exists."""


class CorruptRecordError(StoreError):
    """A stored record does not parse as its model (written by an older or broken version)."""

    def __init__(self, model: str, key: str, reason: str, raw: bytes) -> None:
        super().__init__(f"{model} {key}: {reason}")
        self.model = model
        self.key = key
        self.raw = raw
        """The stored bytes, for whoever wants to salvage what they can."""


class RecordTooLargeError(StoreError):
    """A record (or the event announcing it) too large for one NATS message."""

    def __init__(self, what: str, size: int, max_payload: int) -> None:
        super().__init__(
            f"{what} would be {size} bytes, over the {max_payload - HEADERS_ALLOWANCE_BYTES} bytes one NATS "
            f"message can carry (the server's max_payload of {max_payload} bytes, less "
            f"{HEADERS_ALLOWANCE_BYTES} for headers)"
        )
        self.size = size
        self.max_payload = max_payload


def check_fits(what: str, data: bytes, max_payload: int) -> None:
    """RecordTooLargeError unless ``data`` and its headers fit in one message of the NATS server."""
    if len(data) > max_payload - HEADERS_ALLOWANCE_BYTES:
        raise RecordTooLargeError(what, len(data), max_payload)


class UnencodableRecordError(StoreError):
    """A record that cannot be written as JSON (a lone surrogate in a string, a value nested too deep)."""


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
        """The record under ``key``; NotFoundError if none, CorruptRecordError if it cannot be read."""
        raw, revision = await self._raw(key)
        try:
            value = self._model.model_validate_json(raw)
        except ValidationError as exc:
            raise CorruptRecordError(self._model.__name__, key, str(exc), raw) from exc
        return Versioned(value, revision)

    async def _raw(self, key: str) -> tuple[bytes, int]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            raise NotFoundError(key) from None
        if not entry.value:
            raise NotFoundError(key)
        return entry.value, entry.revision or 0

    async def exists(self, key: str) -> bool:
        """Whether a record is stored under ``key``, readable or not."""
        try:
            await self._raw(key)
        except NotFoundError:
            return False
        return True

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
        data = self._encode(value)
        try:
            return await self._kv.create(key, data)
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            raise ConflictError(f"{key} already exists") from exc

    async def update(self, key: str, value: M, revision: int) -> int:
        """Replace the record only if it is still at ``revision``."""
        data = self._encode(value)
        try:
            return await self._kv.update(key, data, last=revision)
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            raise ConflictError(f"{key} changed since revision {revision}") from exc

    async def put(self, key: str, value: M) -> int:
        return await self._kv.put(key, self._encode(value))

    async def delete(self, key: str) -> None:
        """Delete the record, readable or not; NotFoundError for an unknown key."""
        await self._raw(key)
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
        """Every key that holds a record, readable or not (deleted keys excluded)."""
        return [key for key in await self._subject_keys() if await self.exists(key)]

    async def all(self) -> list[M]:
        """Every readable record. One that cannot be read is logged and left out: a listing never fails
        for everyone because of one bad record (``get`` names it; ``delete`` removes it)."""
        records: list[M] = []
        for key in await self._subject_keys():
            found = await self.find_readable(key)
            if found is not None:
                records.append(found.value)
        return records

    async def _subject_keys(self) -> list[str]:
        return await bucket_keys(self._kv)

    def _encode(self, value: M) -> bytes:
        """The record as stored; refused here rather than written when it could not be read back or would
        not fit in one NATS message."""
        try:
            data = value.model_dump_json(by_alias=True).encode()
        except PydanticSerializationError as exc:
            raise UnencodableRecordError(f"{self._model.__name__} cannot be stored as JSON: {exc}") from exc
        check_fits(f"the stored {self._model.__name__}", data, self.max_payload)
        return data

    @property
    def max_payload(self) -> int:
        """The largest message the connected NATS server accepts (its INFO's ``max_payload``). nats-py's
        KeyValue has no public handle to its connection, hence the private attributes."""
        limit: int = self._kv._js._nc.max_payload
        return limit


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
