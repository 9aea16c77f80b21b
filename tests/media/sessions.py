"""Running one CallSession in a test: its call record in a real NATS KV, a provider and an agent in memory.

The fixture ``records`` (conftest.py) gives the stores and the lifecycle with a recording publisher; here
are a call, claimed as a replica claims it, and ``running_session``, which runs the session against a
``FakeProvider`` (the devkit's wire format) and a ``FakeAgent`` (fakes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from opentelemetry.trace import NoOpTracer
from pydantic import SecretStr

from callbridge.common.bus import Stores
from callbridge.common.events import CallEnded
from callbridge.common.ids import new_call_id
from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.media.clock import Clock
from callbridge.media.config import MediaSettings
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.providers.base import StreamOptions
from callbridge.media.providers.registry import stream_for
from callbridge.media.ratelimit import CallLog
from callbridge.media.session import CallSession
from callbridge.media.tools import ToolHandler
from tests.e2e.provider_client import CODECS, wire_for
from tests.media.fakes import FakeAgent, FakeProvider, FlakyPublisher
from tests.media.helpers import MEDIA_SECRET_KEY

SESSION_TIMEOUT_S = 10.0


@dataclass
class CallRecords:
    """The KV stores, and the lifecycle publishing through an outbox to ``published``."""

    stores: Stores
    lifecycle: CallLifecycle
    published: FlakyPublisher
    connection: Client


async def store_call(records: CallRecords, **fields: Any) -> Call:
    """A call created as the webhooks service creates it (its record and listing, no event)."""
    call = Call(**{"call_id": new_call_id(), "created": datetime.now(UTC), **fields})
    await records.stores.calls.create(str(call.call_id), call)
    await records.stores.call_listing.created(call)
    return call


async def new_call(records: CallRecords, **fields: Any) -> Call:
    """A call created and claimed (joined) as the replica its provider reached would claim it."""
    call = await store_call(records, **fields)
    return await records.lifecycle.claim(call.call_id)


@dataclass
class SessionRun:
    session: CallSession
    provider: FakeProvider
    agent: FakeAgent
    task: asyncio.Task[None]
    records: CallRecords
    log: CallLog

    async def started(self) -> None:
        """The provider's opening is read and the agent started."""
        await asyncio.wait_for(self.agent.started.wait(), SESSION_TIMEOUT_S)

    async def ended(self) -> CallEnded:
        """The session has run to its end; the ``ended`` event it published."""
        await asyncio.wait_for(asyncio.shield(self.task), SESSION_TIMEOUT_S)
        return await self.records.published.wait_for(CallEnded)


@contextlib.asynccontextmanager
async def running_session(
    records: CallRecords,
    call: Call,
    agent: FakeAgent,
    *,
    provider: Provider = Provider.TWILIO,
    tools: Mapping[str, ToolHandler] | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> AsyncIterator[SessionRun]:
    """Run a session for ``call``; on leaving, the provider hangs up if the call goes on, and the session
    is awaited to its end."""
    log = CallLog.for_call(logging.getLogger("tests.session"), call.call_id, asyncio.get_running_loop().time)
    fake = FakeProvider(wire_for(provider), CODECS[provider])
    session = CallSession(
        call,
        fake.socket,
        stream_for(provider, call, StreamOptions(), log),
        agent,
        records.lifecycle,
        MediaSettings(secret_key=SecretStr(MEDIA_SECRET_KEY), **settings),
        NoOpTracer(),
        log,
        tools=tools,
        clock=clock,
    )
    task = asyncio.create_task(session.run(), name=f"session-{call.call_id}")
    try:
        yield SessionRun(session, fake, agent, task, records, log)
    finally:
        if not task.done():
            fake.socket.hang_up()
        await asyncio.wait_for(task, SESSION_TIMEOUT_S)
