"""The calls that have not ended, as one JetStream stream with a subject per call.

A KV bucket would do, but a KV delete leaves a marker under the key (and KV streams refuse message
deletes), so its key list would grow with every call ever made. Here a call is a message on
``callbridge.live.<agent>.<callId>`` (one per subject); ending it deletes that message, which leaves the
subject empty, and the stream's subject list (one request) is exactly the calls in progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from uuid import UUID

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from callbridge.common import subjects


async def ensure_live_calls_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    config = StreamConfig(
        name=subjects.LIVE_CALLS_STREAM,
        subjects=[subjects.live_call_wildcard()],
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        allow_direct=True,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


class LiveCalls:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def add(self, agent: str, call_id: UUID) -> None:
        await self._js.publish(subjects.live_call(agent, call_id), b"1", stream=subjects.LIVE_CALLS_STREAM)

    async def remove(self, agent: str, call_id: UUID) -> None:
        """Idempotent: a call already removed (by a racing writer) is left alone."""
        try:
            message = await self._js.get_msg(
                subjects.LIVE_CALLS_STREAM, subject=subjects.live_call(agent, call_id), direct=True
            )
        except NotFoundError:
            return
        if message.seq is None:
            return
        with contextlib.suppress(NotFoundError):
            await self._js.delete_msg(subjects.LIVE_CALLS_STREAM, message.seq)

    async def contains(self, agent: str, call_id: UUID) -> bool:
        try:
            await self._js.get_msg(
                subjects.LIVE_CALLS_STREAM, subject=subjects.live_call(agent, call_id), direct=True
            )
        except NotFoundError:
            return False
        return True

    async def all(self) -> list[tuple[str, UUID]]:
        """Every call in progress as (agent, call id)."""
        info = await self._js.stream_info(
            subjects.LIVE_CALLS_STREAM, subjects_filter=subjects.live_call_wildcard()
        )
        return list(_parse(info.state.subjects or {}))


def _parse(names: dict[str, int]) -> Iterator[tuple[str, UUID]]:
    for name in names:
        agent, _, hex_id = name.removeprefix(subjects.LIVE_CALL_PREFIX).rpartition(".")
        with contextlib.suppress(ValueError):
            yield agent, UUID(hex=hex_id)
