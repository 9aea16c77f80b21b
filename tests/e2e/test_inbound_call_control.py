"""Call control of an inbound call: a Twilio caller (the inbound simulator) whose account's REST API is
simulated too, so the stack's transfer service reaches it. A call the agent hangs up is hung up at Twilio as
well; a call the caller hangs up is not; a transfer stops the caller's stream as Twilio's call update does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from nats.aio.client import Client

from callbridge.common import subjects
from callbridge.common.events import CallEnded, CallEvent, CallTransferred, ProviderCallHungUp
from callbridge.common.models.medium import Provider
from callbridge.devkit.provision import provision_twilio_agent
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.rest import TwilioRestApi
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from callbridge.devkit.timeline import follow_call
from callbridge.transfer.worker import ENDED_CONSUMER
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import API_KEY, SECRET_KEY, events_of

ACCOUNT_SID, AUTH_TOKEN = "AC" + "1" * 32, "inbound-call-control-token"
TARGET = "+15557654321"
TIMEOUT_S = 30.0


@contextlib.asynccontextmanager
async def twilio_stack(nats_url: str, account: TwilioRestApi) -> AsyncIterator[RunningStack]:
    async with (
        account.serve() as api_url,
        run_stack(
            StackConfig(
                nats_url=nats_url,
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                provider_api_urls={Provider.TWILIO: api_url},
            )
        ) as stack,
    ):
        yield stack


async def caller(stack: RunningStack, agent_url: str) -> TwilioSimulator:
    provisioned = await provision_twilio_agent(
        stack.webhooks_url,
        stack.api_key,
        stack.public_base_url,
        call_template={"agentBackend": {"websocket": {"url": agent_url}}},
        auth_token=AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
    )
    return TwilioSimulator(provisioned.webhook_url, AUTH_TOKEN, ACCOUNT_SID, allow_insecure_ws=True)


async def until(nats_url: str, call_id: str, *wanted: type[CallEvent]) -> list[CallEvent]:
    events: list[CallEvent] = []
    async with follow_call(nats_url, call_id) as queue, asyncio.timeout(TIMEOUT_S):
        while not all(any(isinstance(e, kind) for e in events) for kind in wanted):
            events.append(await queue.get())
    return events


async def call_of(stack: RunningStack, call_sid: str) -> str:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        calls: list[dict[str, Any]] = (await api.get("/api/calls")).json()["results"]
    (found,) = [call for call in calls if (call.get("providerDetails") or {}).get("callId") == call_sid]
    return str(found["callId"])


async def test_an_inbound_call_the_agent_hangs_up_is_hung_up_at_twilio_too(
    nats_url: str, clean_jetstream: None
) -> None:
    account = TwilioRestApi(ACCOUNT_SID, AUTH_TOKEN)

    async def hang_up(peer: AgentPeer) -> None:
        await peer.wait_for_audio()
        await peer.send_message(
            {"type": "client_tool_invocation", "toolName": "hangUp", "invocationId": "bye"}
        )

    async with agent_server(hang_up) as (agent_url, _), twilio_stack(nats_url, account) as stack:
        simulator = await caller(stack, agent_url)
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        line = account.add_call(answer.call_sid)
        await simulator.stream(answer, tone(440.0, 5.0, 8000, -30.0), tail_s=0.0)
        call_id = await call_of(stack, answer.call_sid)
        events = await until(nats_url, call_id, CallEnded, ProviderCallHungUp)
    hung_up = next(event for event in events if isinstance(event, ProviderCallHungUp))
    assert hung_up.result == "hung_up"
    assert line.hung_up_by_api


async def settled(client: Client) -> None:
    """Wait until the transfer service's consumer of ``ended`` events has handled every event."""
    js = client.jetstream()
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            info = await js.consumer_info(subjects.EVENTS_STREAM, ENDED_CONSUMER)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            await asyncio.sleep(0.05)  # the consumer's state is polled: JetStream has no event for it


async def test_an_inbound_call_the_caller_hangs_up_is_not_hung_up_at_twilio(
    nats_url: str, clean_jetstream: None, nats_client: Client
) -> None:
    account = TwilioRestApi(ACCOUNT_SID, AUTH_TOKEN)
    async with agent_server(echo=True) as (agent_url, _), twilio_stack(nats_url, account) as stack:
        simulator = await caller(stack, agent_url)
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        line = account.add_call(answer.call_sid)
        await simulator.stream(answer, tone(440.0, 0.5, 8000, -30.0), tail_s=0.0)
        call_id = await call_of(stack, answer.call_sid)
        (*_, ended) = await events_of(nats_url, call_id, timeout_s=TIMEOUT_S)
        assert isinstance(ended, CallEnded)
        assert ended.by_provider  # the provider ended it: nothing asks for a hang-up
        await settled(nats_client)
    assert not line.hung_up_by_api
    assert [request for request in account.requests if request.method == "POST"] == []


async def test_an_inbound_call_transferred_by_the_api_stops_its_stream(
    nats_url: str, clean_jetstream: None
) -> None:
    account = TwilioRestApi(ACCOUNT_SID, AUTH_TOKEN)
    async with agent_server(echo=True) as (agent_url, _), twilio_stack(nats_url, account) as stack:
        simulator = await caller(stack, agent_url)
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        line = account.add_call(answer.call_sid)
        streaming = asyncio.create_task(
            simulator.stream(answer, tone(440.0, 20.0, 8000, -30.0), tail_s=0.0, hang_up=line.hung_up)
        )
        async with asyncio.timeout(TIMEOUT_S):
            while True:  # the call is found once webhooks has created it and media has joined it
                try:
                    call_id = await call_of(stack, answer.call_sid)
                    break
                except ValueError:
                    await asyncio.sleep(0.05)  # nothing to await: the listing is read over HTTP
        async with httpx.AsyncClient(
            base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}
        ) as api:
            response = await api.post(f"/api/calls/{call_id}/transfer", json={"target": TARGET})
        assert response.status_code == 202, response.text
        events = await until(nats_url, call_id, CallEnded, CallTransferred)
        recording = await streaming
    assert recording.ended_by == "simulator"
    assert line.transferred_to == TARGET
    assert not line.hung_up_by_api
    ended = next(event for event in events if isinstance(event, CallEnded))
    assert ended.end_reason == "transferred"
