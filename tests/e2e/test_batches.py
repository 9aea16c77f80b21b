"""A scheduled batch through the whole stack: created through the API, scheduled and placed by the dialer's
scheduler, dialed at a simulated Twilio account whose callees answer (and the echo agent talks to them) or
are busy, retried by outcome, and followed to its end through the batch's progress events."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import nats

from callbridge.common import subjects
from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest import CalleeScript
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from tests.e2e.outbound import dialer_metric, stack_dialing

BUSY = "+15550009999"
ANSWERING = [f"+1555000100{n}" for n in range(4)]
FROM = "+15550002222"
BATCH_TIMEOUT_S = 60.0


def _call(to: str) -> dict[str, Any]:
    return {"medium": {"twilio": {"outgoing": {"to": to, "from": FROM}}}, "templateContext": {"to": to}}


async def _until_ended(nats_url: str, batch_id: str, started: asyncio.Event) -> dict[str, Any]:
    connection = await nats.connect(nats_url)
    try:
        subscription = await connection.subscribe(subjects.batch_event(batch_id, "progress"))
        started.set()
        async with asyncio.timeout(BATCH_TIMEOUT_S):
            async for message in subscription.messages:
                event: dict[str, Any] = json.loads(message.data)
                if event.get("endedAt"):
                    return event
    finally:
        await connection.close()
    raise AssertionError("the progress subscription ended")


async def test_a_batch_is_placed_by_the_dialer_retried_by_outcome_and_followed_to_its_end(
    nats_url: str, clean_jetstream: None
) -> None:
    script = CalleeScript.parse(
        [f"{BUSY}=busy", "*=answers_and_speaks(ring_s=0.1, speech_s=0.3, hold_s=0.6)"]
    )
    account = new_account(Provider.TWILIO, script=script, allow_insecure_ws=True)
    async with stack_dialing(nats_url, Provider.TWILIO, account) as stack:
        api = httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}, timeout=10)
        async with api:
            await _limit_lines(api, stack)
            agent = await api.post(
                "/api/agents",
                json={"name": "reminders", "callTemplate": {"agentBackend": {"echo": {"sampleRate": 16000}}}},
            )
            assert agent.status_code == 201, agent.text
            agent_id = agent.json()["agentId"]
            body = {
                "calls": [_call(BUSY), *(_call(to) for to in ANSWERING)],
                "retry": {"maxAttempts": 2, "retryOn": ["busy"], "backoff": "0.5s"},
            }
            created = await api.post(
                f"/api/agents/{agent_id}/scheduled_batches", json={**body, "paused": True}
            )
            assert created.status_code == 201, created.text
            batch_path = f"/api/agents/{agent_id}/scheduled_batches/{created.json()['batchId']}"
            decisions_before = await dialer_metric(stack, "callbridge_scheduler_decisions_total")
            placed_before = await dialer_metric(stack, "callbridge_scheduler_calls_placed_total")
            started = asyncio.Event()
            follow = asyncio.create_task(_until_ended(nats_url, created.json()["batchId"], started))
            await started.wait()
            resumed = await api.patch(batch_path, json={"paused": False})
            assert resumed.status_code == 200, resumed.text
            ended = await follow
            batch = (await api.get(batch_path)).json()
            calls = (await api.get(f"{batch_path}/scheduled_calls")).json()["results"]
            created_calls = (await api.get(f"{batch_path}/created_calls")).json()["results"]
            decisions = await dialer_metric(stack, "callbridge_scheduler_decisions_total") - decisions_before
            placed = await dialer_metric(stack, "callbridge_scheduler_calls_placed_total") - placed_before
            ticks = await dialer_metric(stack, "callbridge_scheduler_ticks_total")
    assert placed == 6  # the scheduler's counters on the dialer's /metrics: every attempt placed
    assert decisions >= 6
    assert ticks > 0
    assert ended["completedCount"] == 5
    assert batch["completedCount"] == 5
    assert batch["statusCounts"] == {"FUTURE": 0, "PENDING": 0, "SUCCESS": 4, "EXPIRED": 0, "ERROR": 1}
    assert batch["endedAt"] is not None
    busy = calls[0]
    assert busy["status"] == "ERROR"
    assert [attempt["outcome"] for attempt in busy["attempts"]] == ["busy", "busy"]
    assert all(call["status"] == "SUCCESS" for call in calls[1:])
    dials = Counter(placed.to for placed in account.outbound.calls.values())
    assert dials == Counter({BUSY: 2, **dict.fromkeys(ANSWERING, 1)})  # no duplicate, none lost
    assert len(created_calls) == 6
    assert {call["endReason"] for call in created_calls} == {"busy", "hangup"}
    assert all(call["origin"]["batchId"] == batch["batchId"] for call in created_calls)


async def _limit_lines(api: httpx.AsyncClient, stack: RunningStack) -> None:
    """Two lines on the account, none kept for inbound calls."""
    answer = await api.patch("/api/telephony_configs/twilio", json={"maxConcurrentCalls": 2})
    assert answer.status_code == 200, answer.text
    assert stack.webhooks_url
