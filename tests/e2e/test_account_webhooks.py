"""Account webhooks end to end: real calls, real receivers on HTTP. Every event each webhook asked for
arrives signed as Ultravox signs, in order per call, once per replica set; a receiver that fails first gets
everything after retries with growing delays and shows its failures through the API; a dead receiver is
given up after 10 attempts and marked unhealthy; a slow receiver delays no other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from callbridge.devkit.nats_server import free_port
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY, twilio_for
from tests.e2e.webhook_receivers import RETRY_BASE_S, SECRET, Receiver, receivers

RATE_HZ = 8000


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_RETRY_BASE_S", str(RETRY_BASE_S))
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_TIMEOUT_S", "3")


async def add_webhook(stack: RunningStack, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.post("/api/webhooks", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


async def webhook(stack: RunningStack, webhook_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.get(f"/api/webhooks/{webhook_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


async def one_call(stack: RunningStack, simulator: Any) -> str:
    call = await simulator.place_call(tone(1000.0, 0.3, RATE_HZ, -10.0), tail_s=0.1)
    return str(call.answer.parameters["callId"])


ALL = ["call.started", "call.joined", "call.ended"]


async def test_every_event_arrives_signed_in_order_once_across_replicas(
    nats_url: str, clean_jetstream: None, fast_retries: None
) -> None:
    good, flaky = Receiver(), Receiver(fail_first=4)
    config = StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)
    async with receivers(good, flaky), run_stack(config) as stack, run_stack(config):  # two replica sets
        good_hook = await add_webhook(stack, url=good.url, events=ALL, secrets=["old-secret-000", SECRET])
        flaky_hook = await add_webhook(
            stack, url=flaky.url, events=["call.ended", "call.started"], secrets=[SECRET]
        )
        assert good_hook["secretPrefixes"] == ["old-", "whse"]
        assert "secrets" not in good_hook
        simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
        calls = [await one_call(stack, simulator) for _ in range(3)]
        for call_id in calls:
            assert await good.wait_for(call_id, 3) == ALL
            assert await flaky.wait_for(call_id, 2) == ["call.started", "call.ended"]
        await asyncio.sleep(RETRY_BASE_S * 4)  # time for a duplicate to show, if any were sent
        assert all(r.verified for r in good.received + flaky.received)
        assert len(good.received) == 9  # once each, though two replicas deliver
        assert len(flaky.received) == 6
        ended = [r.body for r in good.received if r.event == "call.ended"]
        assert {body["call"]["endReason"] for body in ended} == {"hangup"}
        assert all(body["call"]["joinUrl"] is None for body in ended)
        health = await webhook(stack, flaky_hook["webhookId"])
        assert len(health["recentFailures"]) == 4
        assert {failure["failure"] for failure in health["recentFailures"]} == {"HTTP 500"}
        assert health["status"] == "normal"  # 4 in a row, healed by the next success
        assert (await webhook(stack, good_hook["webhookId"]))["recentFailures"] == []


@pytest.mark.slow
async def test_a_dead_receiver_is_given_up_and_unhealthy_and_a_slow_one_delays_no_other(
    nats_url: str, clean_jetstream: None, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_RETRY_BASE_S", "0.02")  # 10 attempts within about 10 s
    slow, quick = Receiver(delay_s=2.0), Receiver()
    config = StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)
    async with receivers(slow, quick), run_stack(config) as stack:
        dead = await add_webhook(stack, url=f"http://127.0.0.1:{free_port()}/nobody", events=["call.started"])
        await add_webhook(stack, url=slow.url, events=ALL, secrets=[SECRET])
        await add_webhook(stack, url=quick.url, events=ALL, secrets=[SECRET])
        simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
        started = time.monotonic()
        call_id = await one_call(stack, simulator)
        assert await quick.wait_for(call_id, 3) == ALL
        quick_done = quick.received[-1].at - started
        assert await slow.wait_for(call_id, 3) == ALL
        slow_done = slow.received[-1].at - started
        assert slow_done - quick_done >= 3.0, (quick_done, slow_done)  # 3 × 2 s at the slow one, in order
        # 10 attempts: 9 retries from 0.02 s doubling, about 10 s; wait on the record
        async with asyncio.timeout(60):
            while len((state := await webhook(stack, dead["webhookId"]))["recentFailures"]) < 10:  # noqa: ASYNC110 - polling the API, as a user would
                await asyncio.sleep(0.5)
        assert state["status"] == "unhealthy"
        assert state["lastStatusChange"] is not None
        assert "ConnectError" in state["recentFailures"][-1]["failure"]
