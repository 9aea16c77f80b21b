"""``POST /api/calls/{callId}/hang_up`` on the webhooks service alone: a real NATS, and, where a live call is
needed, a stand-in media replica answering the call's command subject (media's own side is tested in
tests/media and end to end in tests/e2e)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from nats.aio.client import Client
from nats.aio.msg import Msg

from callbridge.common import buckets, subjects
from callbridge.common.commands import (
    API_HANG_UP_DETAIL,
    CommandAccepted,
    CommandReply,
    HangUpCall,
    parse_command,
)
from callbridge.common.events import CallEnded
from callbridge.devkit.timeline import follow_call
from tests.webhooks.helpers import Api

CALL_BODY: dict[str, Any] = {"systemPrompt": "hi", "agentBackend": {"echo": {}}}


async def create_call(api: Api) -> str:
    response = await api.client.post("/api/calls", json=CALL_BODY)
    assert response.status_code == 201, response.text
    call_id: str = response.json()["callId"]
    return call_id


async def mark_joined(nats_client: Client, call_id: str) -> None:
    """What media's claim writes when a provider opens the join URL."""
    kv = await nats_client.jetstream().key_value(buckets.CALLS)
    entry = await kv.get(call_id)
    assert entry.value is not None
    record = json.loads(entry.value)
    assert record["joined"] is None
    record["joined"] = datetime.now(UTC).isoformat()  # the call's own field, not callbackDeliveries.joined
    await kv.update(call_id, json.dumps(record).encode(), last=entry.revision)


@asynccontextmanager
async def media_replica(
    nats_client: Client, call_id: str, answer: Callable[[HangUpCall], CommandReply]
) -> AsyncIterator[list[HangUpCall]]:
    """A stand-in for the media replica holding ``call_id``: answers its hang_up commands with ``answer``."""
    received: list[HangUpCall] = []

    async def respond(message: Msg) -> None:
        command = parse_command(message.data)
        assert isinstance(command, HangUpCall)
        received.append(command)
        await message.respond(answer(command).to_json())

    subscription = await nats_client.subscribe(subjects.media_commands_of(call_id), cb=respond)
    await nats_client.flush()
    try:
        yield received
    finally:
        await subscription.unsubscribe()


async def test_an_unknown_call_is_404(api: Api) -> None:
    response = await api.client.post(f"/api/calls/{uuid4()}/hang_up")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


async def test_a_call_nobody_joined_yet_ends_at_once_as_hangup_and_a_second_hang_up_is_409(
    api: Api, nats_url: str
) -> None:
    call_id = await create_call(api)
    async with follow_call(nats_url, call_id) as events:
        response = await api.client.post(f"/api/calls/{call_id}/hang_up")
        assert response.status_code == 202, response.text
        assert response.json() == {"callId": call_id, "ended": True}
        async with asyncio.timeout(5):
            while not isinstance(event := await events.get(), CallEnded):
                pass
    assert event.end_reason == "hangup"
    assert event.detail == API_HANG_UP_DETAIL
    record = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert (record["endReason"], record["endDetail"]) == ("hangup", API_HANG_UP_DETAIL)
    again = await api.client.post(f"/api/calls/{call_id}/hang_up")
    assert again.status_code == 409
    assert "has ended" in again.json()["detail"]


async def test_a_live_call_is_hung_up_by_the_replica_holding_it_and_again_while_it_ends(
    api: Api, nats_client: Client
) -> None:
    call_id = await create_call(api)
    await mark_joined(nats_client, call_id)
    accepted = CommandAccepted(detail="the call ends once the agent's audio already sent has played")
    async with media_replica(nats_client, call_id, lambda _: accepted) as received:
        first = await api.client.post(f"/api/calls/{call_id}/hang_up")
        second = await api.client.post(f"/api/calls/{call_id}/hang_up")
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json() == second.json() == {"callId": call_id, "ended": False}
    assert received == [HangUpCall(), HangUpCall()]
    record = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert record["ended"] is None  # the replica ends it, once the agent's audio has played


async def test_a_joined_call_no_replica_holds_is_503_and_stays_open(api: Api, nats_client: Client) -> None:
    call_id = await create_call(api)
    await mark_joined(nats_client, call_id)
    response = await api.client.post(f"/api/calls/{call_id}/hang_up")
    assert response.status_code == 503
    assert "no media replica holds" in response.json()["detail"]
    record = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert record["ended"] is None  # its stream may still be live on a replica NATS cannot reach


async def test_a_malformed_call_id_is_422(api: Api) -> None:
    response = await api.client.post("/api/calls/not-a-uuid/hang_up")
    assert response.status_code == 422
