"""Drain and kill, for real (issue 10): two media processes behind one join address, carrying outbound calls
placed by the stack's dialer through a simulated Twilio account.

SIGTERM to one while both carry calls: it refuses new joins (which land on the other), keeps its calls
until they end, and exits. SIGKILL to one mid-call: the provider reports its streams failed (Twilio
``stream-error``) and callbridge ends those calls as ``connection_error``. Either way the other process's
calls lose no frame: everything the callee said comes back through the echo agent, without gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from callbridge.common.events import CallEnded, CallJoined
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.recording import StreamRecording
from callbridge.devkit.simulators.rest import CalleeScript, SimulatedRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.simulators.twilio_wire import FRAME_S
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from callbridge.devkit.timeline import follow_call
from tests.e2e.helpers import API_KEY, SECRET_KEY, get_call, twilio_for
from tests.e2e.media_processes import JoinRouter, MediaProcess
from tests.e2e.outbound import import_account

FROM = "+15550002222"
TO = "+15005550001"
HOLD_S = 6.0
"""How long each callee stays on the line: long enough to signal a replica while both carry calls."""
MAX_GAP_S = 0.25
"""Longest pause between two audio messages the caller may hear on a call that loses nothing (20 ms frames,
paced; a loaded machine adds jitter, never a quarter of a second)."""
IN_FLIGHT_FRAMES = 10
"""Frames of the callee's last 200 ms that may still be on their way back when the callee hangs up."""


@dataclass
class Stack:
    stack: RunningStack
    account: SimulatedRestApi
    router: JoinRouter
    media: dict[str, MediaProcess]
    nats_url: str


@contextlib.asynccontextmanager
async def two_media_processes(
    nats_url: str, hold_s: float, drain_timeout_s: float = 60.0, *, outbound: bool = True
) -> AsyncIterator[Stack]:
    """``outbound``: the simulated Twilio account is imported for the dialer (else a test provisions an
    inbound Twilio number itself)."""
    script = CalleeScript.parse([f"*=answers_and_speaks(ring_s=0.1, speech_s=1.0, hold_s={hold_s})"])
    account = new_account(Provider.TWILIO, script=script, allow_insecure_ws=True)
    env = {
        "CALLBRIDGE_NATS_URL": nats_url,
        "CALLBRIDGE_SECRET_KEY": SECRET_KEY,
        "CALLBRIDGE_DRAIN_TIMEOUT_S": str(drain_timeout_s),
    }
    media = {name: MediaProcess(name, env) for name in ("a", "b")}
    async with account.serve() as api_url, JoinRouter() as router:
        config = StackConfig(
            nats_url=nats_url,
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            media_public_url=router.url,  # join URLs point at the router, never at the stack's own media
            provider_api_urls={Provider.TWILIO: api_url},
        )
        async with run_stack(config) as stack:
            if outbound:
                await import_account(stack, Provider.TWILIO, account)
            try:
                for process in media.values():
                    await process.start()
                    router.backends.append((process.name, process.port))
                yield Stack(stack, account, router, media, nats_url)
            finally:
                for process in media.values():
                    await process.stop()


async def place_calls(env: Stack, count: int, first_number: int) -> list[str]:
    body: dict[str, Any] = {"agentBackend": {"echo": {"sampleRate": 16000}}}
    calls = []
    async with httpx.AsyncClient(base_url=env.stack.webhooks_url, headers={"X-API-Key": API_KEY}) as api:
        for n in range(first_number, first_number + count):
            outgoing = {"to": f"+1555300{n:04d}", "from": FROM}
            response = await api.post(
                "/api/calls", json={**body, "medium": {"twilio": {"outgoing": outgoing}}}
            )
            assert response.status_code == 201, response.text
            calls.append(response.json()["callId"])
    return calls


async def joined_on(env: Stack, call_ids: list[str], timeout_s: float = 20.0) -> dict[str, str]:
    """Each call's media replica, once every call has joined."""

    async def one(call_id: str) -> str:
        async with follow_call(env.nats_url, call_id) as queue, asyncio.timeout(timeout_s):
            while True:
                event = await queue.get()
                if isinstance(event, CallJoined):
                    return event.media_replica
                assert not isinstance(event, CallEnded), f"call {call_id} ended unjoined: {event}"

    replicas = await asyncio.gather(*(one(call_id) for call_id in call_ids))
    return dict(zip(call_ids, replicas, strict=True))


async def ended(env: Stack, call_id: str, timeout_s: float = 30.0) -> CallEnded:
    async with follow_call(env.nats_url, call_id) as queue, asyncio.timeout(timeout_s):
        while True:
            event = await queue.get()
            if isinstance(event, CallEnded):
                return event


async def recording_of(env: Stack, call_id: str) -> StreamRecording:
    """What the simulated provider observed on the call's stream, once its call is over."""
    provider_call_id = (await get_call(env.stack, call_id))["providerDetails"]["callId"]
    call = env.account.outbound.calls[provider_call_id]
    async with asyncio.timeout(30):
        await call.ended.wait()
    assert call.recording is not None, call.error
    return call.recording


def split(env: Stack, replicas: dict[str, str]) -> tuple[list[str], list[str]]:
    """The calls on a and those on b; both must carry some (the router takes turns)."""
    on_a = [call for call, replica in replicas.items() if replica == env.media["a"].replica]
    on_b = [call for call, replica in replicas.items() if replica == env.media["b"].replica]
    assert on_a, replicas
    assert on_b, replicas
    return on_a, on_b


def assert_lost_no_frame(recording: StreamRecording) -> None:
    """The echo agent sent back everything the callee said, evenly paced, and the callee hung up."""
    assert recording.ended_by == "simulator", recording.ended_by
    assert recording.violations == []
    echoed_frames = sum(recording.outbound_media_bytes) / recording.outbound_bytes_per_frame
    # The callee hangs up on its schedule: frames it sent late (a loaded machine; measured) are still on their
    # way back then, on top of the last 200 ms. A frame lost mid-call also shows as a gap, checked below.
    late_frames = math.ceil(recording.max_send_lateness_s / FRAME_S)
    in_flight = IN_FLIGHT_FRAMES + late_frames
    assert echoed_frames >= recording.frames_sent - in_flight, (
        echoed_frames,
        recording.frames_sent,
        in_flight,
    )
    gaps = np.diff(recording.outbound_media_at_s)
    # A gap the caller's own late sending made (measured) is not the media process's doing.
    allowed_s = MAX_GAP_S + recording.max_send_lateness_s
    assert gaps.max() < allowed_s, (
        f"a {gaps.max():.3f} s gap in the audio the caller heard (allowed {allowed_s:.3f})"
    )


async def test_a_draining_media_process_refuses_new_joins_finishes_its_calls_and_exits(
    nats_url: str, clean_jetstream: None
) -> None:
    async with two_media_processes(nats_url, HOLD_S) as env:
        first = await place_calls(env, 4, 0)
        replicas = await joined_on(env, first)
        on_a, on_b = split(env, replicas)

        env.media["a"].signal(signal.SIGTERM)
        await env.media["a"].wait_for_log("draining", 10)
        refused_before = len(env.router.refused)
        later = await place_calls(env, 2, 100)
        later_replicas = await joined_on(env, later)
        assert set(later_replicas.values()) == {env.media["b"].replica}  # a refused them: they landed on b
        assert set(env.router.refused[refused_before:]) == {"a"}  # a refused the joins that came its turn

        # a keeps its calls until the callee hangs up, then exits on its own.
        for call_id in on_a:
            assert (await ended(env, call_id)).end_reason.value == "hangup"
            assert_lost_no_frame(await recording_of(env, call_id))
        assert await env.media["a"].wait(15) == 0
        assert any("drained" in message for message in env.media["a"].messages)
        for call_id in on_b + later:
            assert (await ended(env, call_id)).end_reason.value == "hangup"
            assert_lost_no_frame(await recording_of(env, call_id))


async def test_a_killed_media_process_ends_its_calls_as_connection_errors_and_touches_no_other(
    nats_url: str, clean_jetstream: None
) -> None:
    async with two_media_processes(nats_url, HOLD_S) as env:
        calls = await place_calls(env, 4, 0)
        replicas = await joined_on(env, calls)
        on_a, on_b = split(env, replicas)

        env.media["a"].signal(signal.SIGKILL)
        assert await env.media["a"].wait(10) == -signal.SIGKILL
        for call_id in on_a:
            end = await ended(env, call_id, timeout_s=HOLD_S)  # at once, not when the callee would hang up
            assert end.end_reason.value == "connection_error", end
            assert "stream-error" in (end.detail or ""), end.detail
            recording = await recording_of(env, call_id)
            assert recording.ended_by == "connection_lost"
            record = await get_call(env.stack, call_id)
            assert record["endReason"] == "connection_error"
        for call_id in on_b:
            assert (await ended(env, call_id)).end_reason.value == "hangup"
            assert_lost_no_frame(await recording_of(env, call_id))


async def test_calls_that_outlive_the_drain_timeout_are_cut_and_the_process_exits(
    nats_url: str, clean_jetstream: None
) -> None:
    """The drain timeout bounds the shutdown (k8s: the grace period matches it): calls still going then are
    ended as ``system_error`` by the replica itself, which then exits; the other replica's calls go on."""
    drain_timeout_s = 1.0
    async with two_media_processes(nats_url, HOLD_S, drain_timeout_s) as env:
        replicas = await joined_on(env, await place_calls(env, 4, 0))
        on_a, on_b = split(env, replicas)

        env.media["a"].signal(signal.SIGTERM)
        await env.media["a"].wait_for_log("drain timeout", 10)
        assert await env.media["a"].wait(HOLD_S) == 0  # before the callees would have hung up
        for call_id in on_a:
            end = await ended(env, call_id, timeout_s=5)
            assert end.end_reason.value == "system_error", end
            assert "drain timeout" in (end.detail or ""), end.detail
            assert (await recording_of(env, call_id)).ended_by == "server"
        for call_id in on_b:
            assert (await ended(env, call_id)).end_reason.value == "hangup"
            assert_lost_no_frame(await recording_of(env, call_id))


async def test_calls_of_a_killed_process_that_no_provider_reports_are_ended_by_the_deadline_consumer(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inbound streams whose provider posts no stream status callback: the deadline consumer (every media
    replica shares it) ends the killed replica's calls as ``connection_error`` once their ``maxDuration``
    and the grace have passed; the other replica ends its own at ``maxDuration`` as ``timeout``."""
    monkeypatch.setenv("CALLBRIDGE_LOST_CALL_GRACE_S", "1")  # the media processes and the stack's media
    async with two_media_processes(nats_url, HOLD_S, outbound=False) as env:
        template = {"agentBackend": {"echo": {"sampleRate": 16000}}, "maxDuration": "4s", "joinTimeout": "3s"}
        simulator, _ = await twilio_for(env.stack, template)
        answers = [await simulator.incoming_call(from_number="+15005550006", to_number=TO) for _ in range(4)]
        calls = [str(answer.parameters["callId"]) for answer in answers]
        speech = tone(440.0, 8.0, 8000, -20.0)  # longer than maxDuration
        streams = [asyncio.create_task(simulator.stream(answer, speech)) for answer in answers]
        try:
            on_a, on_b = split(env, await joined_on(env, calls))
            env.media["a"].signal(signal.SIGKILL)
            assert await env.media["a"].wait(10) == -signal.SIGKILL
            for call_id in on_a:
                end = await ended(env, call_id, timeout_s=20)
                assert end.end_reason.value == "connection_error", end
                assert "media replica lost the call" in (end.detail or "")
            for call_id in on_b:
                end = await ended(env, call_id, timeout_s=20)
                assert end.end_reason.value == "timeout", end  # ended by b itself, at maxDuration
            recordings = await asyncio.gather(*streams)
        finally:
            for stream in streams:
                stream.cancel()
        ended_by = {call: recording.ended_by for call, recording in zip(calls, recordings, strict=True)}
        assert {ended_by[call] for call in on_a} == {"connection_lost"}
        assert {ended_by[call] for call in on_b} == {"server"}
