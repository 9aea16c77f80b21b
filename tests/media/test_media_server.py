"""MediaServer on a real port against a real nats-server: which joins it refuses and how, recognising the
provider of a call without a medium, and the call's command subscription lasting exactly as long as the
replica holds its stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callbridge.common.command_client import CallNotHeldError, MediaCommands
from callbridge.common.commands import CommandRefused, RefusalReason, SayMessage
from callbridge.common.events import CallEnded, CallEvent
from callbridge.common.join_tokens import JoinTokenSigner, join_path
from callbridge.common.models.call import Call, EndReason
from callbridge.common.models.medium import Provider
from callbridge.devkit.timeline import follow_call
from tests.e2e.provider_client import provider_client
from tests.media.helpers import MEDIA_SECRET_KEY, MediaPort
from tests.media.sessions import CallRecords, store_call

ECHO = {"echo": {"sampleRate": 16000}}
SIGNER = JoinTokenSigner(MEDIA_SECRET_KEY)


def join_url(port: int, call_id: UUID, expires_at: datetime | None = None) -> str:
    token = SIGNER.sign(call_id, expires_at or datetime.now(UTC) + timedelta(minutes=5))
    return f"ws://127.0.0.1:{port}{join_path(call_id, token)}"


async def event_of(nats_url: str, call: Call, kind: type[CallEvent]) -> CallEvent:
    async with follow_call(nats_url, call.call_id) as events, asyncio.timeout(10):
        while not isinstance(event := await events.get(), kind):
            pass
    return event


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=5):
            pass
    return refused.value.response.status_code


async def close_code(url: str) -> int | None:
    """Join, and wait for the server to close the stream; its close code."""
    async with connect(url, open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code


async def test_bad_joins_are_refused_with_a_status_before_the_handshake(
    media_port: MediaPort, records: CallRecords
) -> None:
    call = await store_call(records, agent_backend=ECHO)
    async with media_port() as port:
        assert await refused_status(f"ws://127.0.0.1:{port}/calls/nothing") == 404
        forged = join_url(port, call.call_id).rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
        assert await refused_status(forged) == 403
        expired = join_url(port, call.call_id, datetime.now(UTC) - timedelta(seconds=1))
        assert await refused_status(expired) == 403


async def test_joins_of_unknown_ended_or_joined_calls_are_closed_with_their_code(
    media_port: MediaPort, records: CallRecords
) -> None:
    live = await store_call(records, agent_backend=ECHO)
    ended = await store_call(records, agent_backend=ECHO)
    await records.lifecycle.end(ended.call_id, EndReason.HANGUP)
    async with media_port() as port:
        assert await close_code(join_url(port, uuid4())) == 4404
        assert await close_code(join_url(port, ended.call_id)) == 4409
        async with provider_client(join_url(port, live.call_id), Provider.TWILIO) as first:
            await first.assert_echoes()
            assert await close_code(join_url(port, live.call_id)) == 4409  # join URLs are single-use
            await first.assert_echoes()  # the call that joined first goes on


async def test_a_full_replica_answers_503(media_port: MediaPort, records: CallRecords) -> None:
    first = await store_call(records, agent_backend=ECHO)
    second = await store_call(records, agent_backend=ECHO)
    async with (
        media_port(max_calls=1) as port,
        provider_client(join_url(port, first.call_id), Provider.TWILIO) as held,
    ):
        await held.assert_echoes()
        assert await refused_status(join_url(port, second.call_id)) == 503


@pytest.mark.parametrize("provider", list(Provider))
async def test_a_call_without_a_medium_learns_its_provider_from_its_first_messages(
    media_port: MediaPort, records: CallRecords, provider: Provider
) -> None:
    call = await store_call(records, agent_backend=ECHO)
    assert call.medium is None
    async with media_port() as port, provider_client(join_url(port, call.call_id), provider) as stream:
        await stream.assert_echoes()  # the detection's messages reached the session: it started
    record = (await records.stores.calls.get(str(call.call_id))).value
    assert record.medium is not None
    assert record.medium.provider is provider


async def test_a_stream_whose_provider_cannot_be_told_is_closed_and_the_call_ended(
    nats_url: str, media_port: MediaPort, records: CallRecords
) -> None:
    call = await store_call(records, agent_backend=ECHO)
    async with media_port() as port, connect(join_url(port, call.call_id), open_timeout=5) as ws:
        await ws.send(orjson.dumps({"event": "hello"}))
        await ws.send(b"\xff not json")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4415
    ended = await event_of(nats_url, call, CallEnded)
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == EndReason.CONNECTION_ERROR
    assert ended.detail == "provider not recognised from the stream"


async def test_the_call_takes_commands_while_its_stream_is_held_and_not_after(
    nats_url: str, media_port: MediaPort, records: CallRecords
) -> None:
    call = await store_call(records, agent_backend=ECHO)
    commands = MediaCommands(records.connection)
    say = SayMessage(text="Hello")
    async with media_port() as port:
        with pytest.raises(CallNotHeldError):
            await commands.send(call.call_id, say)  # not joined: nobody holds it
        async with provider_client(join_url(port, call.call_id), Provider.TWILIO) as stream:
            await stream.assert_echoes()
            reply = await commands.send(call.call_id, say)
            await stream.stop()
            await stream.wait_closed(5)
        await event_of(nats_url, call, CallEnded)
        with pytest.raises(CallNotHeldError):
            await commands.send(call.call_id, say)
    # The replica holding it answered: the echo agent does not speak text.
    assert isinstance(reply, CommandRefused)
    assert reply.reason is RefusalReason.NOT_SUPPORTED
