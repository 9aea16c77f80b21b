"""``POST /api/calls/{callId}/hang_up`` end to end: through any webhooks replica, on a call held by any
media replica, the agent's audio already sent plays out before the call ends; idempotent while it ends, 409
after."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from callbridge.common.commands import API_HANG_UP_DETAIL
from callbridge.common.events import AgentTranscript, CallEnded, CallEvent, CallJoined
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from callbridge.devkit.timeline import follow_call
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import API_KEY, SECRET_KEY, create_call, heard_span_s, twilio_for
from tests.e2e.provider_client import provider_client

RATE_HZ = 8000


async def next_of(events: asyncio.Queue[CallEvent], kind: type[CallEvent], timeout_s: float = 10.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while not isinstance(event := await events.get(), kind):
            pass
    return event


async def hang_up(stack: RunningStack, call_id: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        return await api.post(f"/api/calls/{call_id}/hang_up")


async def test_hang_up_lets_the_agents_audio_play_out_then_ends_the_call_and_is_409_after(
    stack: RunningStack, nats_url: str
) -> None:
    goodbye = tone(700.0, 1.0, 16000, -6.0).tobytes()

    async def say_goodbye(peer: AgentPeer) -> None:
        await peer.wait_for_audio()  # the call is live
        await peer.send_audio(goodbye)
        # On the same socket, after the audio: once media publishes it, it has read the audio too.
        await peer.send_message({"type": "transcript", "role": "agent", "text": "Goodbye.", "final": True})

    async with agent_server(say_goodbye) as (agent_url, _):
        simulator, _ = await twilio_for(stack, {"agentBackend": {"websocket": {"url": agent_url}}})
        answer = await simulator.incoming_call(from_number="+15005550006", to_number="+15005550001")
        call_id = answer.parameters["callId"]
        async with follow_call(nats_url, call_id) as events:
            streaming = asyncio.create_task(
                simulator.stream(answer, tone(1000.0, 10.0, RATE_HZ, -30.0), tail_s=0.0)
            )
            await next_of(events, AgentTranscript)
            first = await hang_up(stack, call_id)
            second = await hang_up(stack, call_id)  # while the goodbye plays: accepted again
            recording = await asyncio.wait_for(streaming, 10.0)
            ended = await next_of(events, CallEnded)
        after = await hang_up(stack, call_id)
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json() == {"callId": call_id, "ended": False}
    assert after.status_code == 409
    assert recording.ended_by == "server"
    assert recording.heard is not None
    assert heard_span_s(recording.heard, RATE_HZ) >= 0.99  # all of the goodbye sent before the hang-up
    assert (ended.end_reason, ended.detail) == ("hangup", API_HANG_UP_DETAIL)


async def test_hang_up_reaches_a_call_held_by_another_media_replica(
    stack: RunningStack, nats_url: str
) -> None:
    config = StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)
    async with run_stack(config) as other:
        # Each call is created through one stack's webhooks and streamed to the other stack's media, then
        # hung up through the webhooks replica that did not create it, away from the media holding it.
        crossed = [(stack, other), (other, stack)]
        calls = []
        for creator, holder in crossed:
            created = await create_call(
                creator, {"medium": {"twilio": {}}, "agentBackend": {"echo": {"sampleRate": 8000}}}
            )
            join_url = created["joinUrl"].replace(creator.media_public_url, holder.media_public_url)
            calls.append((created["callId"], join_url, holder))
        async with (
            provider_client(calls[0][1], Provider.TWILIO, 0) as first,
            provider_client(calls[1][1], Provider.TWILIO, 1) as second,
        ):
            replicas = []
            for call_id, _, _ in calls:
                async with follow_call(nats_url, call_id) as events:
                    replicas.append((await next_of(events, CallJoined)).media_replica)
            assert replicas[0] != replicas[1]  # each call is on its own replica
            answers = [
                await hang_up(creator, call_id)
                for (creator, _), (call_id, _, _) in zip(crossed, calls, strict=True)
            ]
            await first.wait_closed(10.0)
            await second.wait_closed(10.0)
        for call_id, _, _ in calls:
            async with follow_call(nats_url, call_id) as events:
                ended = await next_of(events, CallEnded)
            assert (ended.end_reason, ended.detail) == ("hangup", API_HANG_UP_DETAIL)
    assert [answer.status_code for answer in answers] == [202, 202], [answer.text for answer in answers]
    assert [answer.json()["ended"] for answer in answers] == [False, False]
