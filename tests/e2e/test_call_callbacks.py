"""A call's own callbacks end to end: real calls from an agent whose template has ``callbacks``, real HTTP
receivers. Each callback arrives signed exactly as account webhooks are, once (two replica sets deliver),
``joined`` before ``ended`` even when the ``joined`` receiver fails first and is retried with growing
delays; the call shows each delivery's health (``callbackDeliveries``); a dead receiver is given up after
10 attempts."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from callbridge.devkit.nats_server import free_port
from callbridge.devkit.signals import tone
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY, get_call, twilio_for
from tests.e2e.webhook_receivers import RETRY_BASE_S, SECRET, Receiver, receivers

RATE_HZ = 8000


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_RETRY_BASE_S", str(RETRY_BASE_S))
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_TIMEOUT_S", "3")


async def _calls_of_agent(stack: RunningStack, callbacks: dict[str, Any], count: int) -> list[str]:
    template = {"agentBackend": {"echo": {"sampleRate": 16000}}, "callbacks": callbacks}
    simulator, _ = await twilio_for(stack, template)
    calls = []
    for _ in range(count):
        call = await simulator.place_call(tone(1000.0, 0.3, RATE_HZ, -10.0), tail_s=0.1)
        calls.append(str(call.answer.parameters["callId"]))
    return calls


async def _deliveries_settled(stack: RunningStack, call_id: str, timeout_s: float) -> dict[str, Any]:
    """The call's ``callbackDeliveries`` once neither is pending (polling the API, as a user would)."""
    async with asyncio.timeout(timeout_s):
        while True:
            deliveries: dict[str, Any] = (await get_call(stack, call_id))["callbackDeliveries"]
            settled = [d for d in deliveries.values() if d is not None and d["status"] != "pending"]
            if len(settled) == 2:
                return deliveries
            await asyncio.sleep(0.2)


async def test_callbacks_arrive_signed_in_order_once_after_a_receiver_that_fails_first(
    nats_url: str, clean_jetstream: None, fast_retries: None
) -> None:
    receiver = Receiver(fail_first_per_call=3)  # each call's joined callback fails three times
    config = StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)
    async with receivers(receiver), run_stack(config) as stack, run_stack(config):  # two replica sets
        callbacks = {
            "joined": {"url": receiver.url, "secrets": ["old-secret-000", SECRET]},
            "ended": {"url": receiver.url, "secrets": [SECRET]},
        }
        first, second = await _calls_of_agent(stack, callbacks, 2)
        for call_id in (first, second):
            assert await receiver.wait_for(call_id, 2) == ["call.joined", "call.ended"]
        first_deliveries = await _deliveries_settled(stack, first, 20.0)
        second_deliveries = await _deliveries_settled(stack, second, 20.0)
        await asyncio.sleep(RETRY_BASE_S * 4)  # time for a duplicate to show, if any were sent
        assert len(receiver.received) == 4  # once each, though two replica sets deliver
        assert all(r.verified for r in receiver.received)
        ended = next(r.body for r in receiver.received if r.call_id == first and r.event == "call.ended")
        assert ended["call"]["endReason"] == "hangup"
        assert ended["call"]["callbacks"]["joined"] == {
            "url": receiver.url,
            "secretPrefixes": ["old-", "whse"],
        }
        assert SECRET not in str(ended)
        # Three failed attempts of joined, each retried later than the one before (30 s-style doubling),
        # and ended held back until joined was delivered.
        first_attempts = [(at, event) for at, event, call_id in receiver.attempts if call_id == first]
        joined_times = [at for at, event in first_attempts if event == "call.joined"]
        assert len(joined_times) == 4
        gaps = [later - earlier for earlier, later in itertools.pairwise(joined_times)]
        for index, gap in enumerate(gaps):
            assert gap >= RETRY_BASE_S * 2**index * 0.9, gaps
        assert [event for _, event in first_attempts] == ["call.joined"] * 4 + ["call.ended"]
        joined = first_deliveries["joined"]
        assert joined["status"] == "delivered"
        assert joined["failedAttempts"] == 3
        assert [f["failure"] for f in joined["recentFailures"]] == ["HTTP 500"] * 3
        assert first_deliveries["ended"]["status"] == "delivered"
        assert first_deliveries["ended"]["failedAttempts"] == 0
        assert second_deliveries["joined"]["failedAttempts"] == 3


async def test_a_dead_callback_receiver_is_given_up_after_ten_attempts(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_WEBHOOK_RETRY_BASE_S", "0.02")  # 10 attempts within about 10 s
    receiver = Receiver()
    config = StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)
    async with receivers(receiver), run_stack(config) as stack:
        callbacks = {
            "joined": {"url": f"http://127.0.0.1:{free_port()}/nobody"},
            "ended": {"url": receiver.url, "secrets": [SECRET]},
        }
        (call_id,) = await _calls_of_agent(stack, callbacks, 1)
        deliveries = await _deliveries_settled(stack, call_id, 60.0)
        assert deliveries["joined"]["status"] == "given_up"
        assert deliveries["joined"]["failedAttempts"] == 10
        assert len(deliveries["joined"]["recentFailures"]) == 10
        assert "ConnectError" in deliveries["joined"]["recentFailures"][-1]["failure"]
        # ended waited for joined to be given up, then went through
        assert deliveries["ended"]["status"] == "delivered"
        assert receiver.events_of(call_id) == ["call.ended"]
