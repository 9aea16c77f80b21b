"""Two dialer processes run a batch while one of them is killed (SIGKILL) at random moments and started
again: every scheduled call still ends (none lost) and no number is dialed twice, counted at the simulated
provider account. Each call is tried once (no retries), so a second dial could only be a duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest import CalleeScript
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from tests.e2e.helpers import SECRET_KEY
from tests.e2e.outbound import stack_dialing

CALLS = 40
FROM = "+15550002222"
READY_TIMEOUT_S = 30.0
BATCH_TIMEOUT_S = 120.0


class DialerProcess:
    """``callbridge-dialer`` in a process of its own, scheduler on, with short leases."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self._env = env
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.kills = 0

    async def start(self) -> None:
        self.ready.clear()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from callbridge.dialer.main import run; run()",
            env={**os.environ, **self._env, "CALLBRIDGE_INSTANCE_ID": self.name},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.process), name=f"{self.name}-output")
        async with asyncio.timeout(READY_TIMEOUT_S):
            await self.ready.wait()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            if b"scheduler" in line and b"running" in line:
                self.ready.set()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1
        if self._reader is not None:
            await self._reader

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.process.wait()
            except TimeoutError:
                await self.kill()
        if self._reader is not None:
            await self._reader


@contextlib.asynccontextmanager
async def dialers(stack: RunningStack, nats_url: str) -> AsyncIterator[list[DialerProcess]]:
    env = {
        "CALLBRIDGE_NATS_URL": nats_url,
        "CALLBRIDGE_SECRET_KEY": SECRET_KEY,
        "CALLBRIDGE_PUBLIC_BASE_URL": stack.public_base_url,
        "CALLBRIDGE_MEDIA_PUBLIC_URL": stack.media_public_url,
        "CALLBRIDGE_TWILIO_API_URL": stack.provider_apis.twilio_api_url or "",
        "CALLBRIDGE_DIALER_PORT": "0",
        "CALLBRIDGE_LOG_LEVEL": "INFO",
        "CALLBRIDGE_SCHEDULER_ENABLED": "true",
        "CALLBRIDGE_SCHEDULER_LEASE_TTL_S": "2",
    }
    processes = [DialerProcess("dialer-a", env), DialerProcess("dialer-b", env)]
    try:
        for process in processes:
            await process.start()
        yield processes
    finally:
        for process in processes:
            await process.stop()


@pytest.mark.slow
async def test_killing_a_dialer_at_random_moments_loses_no_call_and_dials_none_twice(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBRIDGE_SCHEDULER_ENABLED", "false")  # the stack's own dialer only dials
    seed = random.randrange(1_000_000)
    chooser = random.Random(seed)
    script = CalleeScript.parse(["*=answers_and_speaks(ring_s=0.2, speech_s=0.2, hold_s=0.4)"])
    account = new_account(Provider.TWILIO, script=script, allow_insecure_ws=True)
    numbers = [f"+1555100{n:04d}" for n in range(CALLS)]
    async with (
        stack_dialing(nats_url, Provider.TWILIO, account) as stack,
        dialers(stack, nats_url) as processes,
    ):
        api = httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}, timeout=10)
        async with api:
            assert (
                await api.patch("/api/telephony_configs/twilio", json={"maxConcurrentCalls": 6})
            ).is_success
            agent = await api.post(
                "/api/agents",
                json={
                    "name": "failover",
                    "callTemplate": {"agentBackend": {"echo": {"sampleRate": 16000}}, "joinTimeout": "5s"},
                },
            )
            agent_id = agent.json()["agentId"]
            batch_body: dict[str, Any] = {
                "calls": [{"medium": {"twilio": {"outgoing": {"to": to, "from": FROM}}}} for to in numbers]
            }
            created = await api.post(f"/api/agents/{agent_id}/scheduled_batches", json=batch_body)
            assert created.status_code == 201, created.text
            path = f"/api/agents/{agent_id}/scheduled_batches/{created.json()['batchId']}"
            batch = await _run_with_kills(api, path, processes, chooser)
            calls = await _all_calls(api, path)
    dials = Counter(placed.to for placed in account.outbound.calls.values())
    kills = sum(process.kills for process in processes)
    context = f"seed {seed}, {kills} kills, dials {dict(dials)}, counts {batch['statusCounts']}"
    assert kills >= 2, context
    assert all(count == 1 for count in dials.values()), f"a number was dialed twice: {context}"
    assert len(calls) == CALLS
    assert all(call["status"] in ("SUCCESS", "ERROR") for call in calls), context  # every call ended
    assert batch["endedAt"] is not None, context
    assert batch["completedCount"] == CALLS, context
    succeeded = {call["medium"]["twilio"]["outgoing"]["to"] for call in calls if call["status"] == "SUCCESS"}
    assert succeeded <= set(dials), context  # a call counted as connected was dialed
    assert len(succeeded) >= CALLS // 2, context  # kills cost a few attempts, not the batch


async def _run_with_kills(
    api: httpx.AsyncClient, path: str, processes: list[DialerProcess], chooser: random.Random
) -> dict[str, Any]:
    """Kill one dialer at a random moment, start it again, and again, until the batch ends."""
    async with asyncio.timeout(BATCH_TIMEOUT_S):
        while True:
            batch: dict[str, Any] = (await api.get(path)).json()
            if batch["endedAt"] is not None:
                return batch
            victim = chooser.choice(processes)
            await asyncio.sleep(chooser.uniform(0.2, 1.5))  # a random moment mid-batch: the fault injected
            if sum(process.kills for process in processes) < 6:
                await victim.kill()
                await victim.start()


async def _all_calls(api: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    url: str | None = f"{path}/scheduled_calls?pageSize=1000"
    while url is not None:
        page = (await api.get(url)).json()
        calls += page["results"]
        url = page["next"]
    return calls
