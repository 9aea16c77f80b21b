"""Warm transfers end to end: an outbound call placed by the whole stack through a simulated provider account,
its agent invoking ``warmTransfer``, the caller on hold music, the human's leg placed through the same account
with a second connection of the agent, and each way it ends: the human accepts (a key or the second agent's
``acceptTransfer``: the provider joins the two calls and both end as ``transferred``) or the caller returns to
the agent with the tool's typed reason (declined, busy, no answer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest

from callbridge.common.events import CallEnded, CallEvent, CallJoined, CallTransferred
from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.audio_codec import ByteOrder
from callbridge.devkit.simulators.plivo import NONCE_HEADER, SIGNATURE_HEADER, PlivoSimulator
from callbridge.devkit.simulators.rest import CalleeScript, SimulatedRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from callbridge.devkit.timeline import follow_call
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import audio_sent_back, events_of, get_call
from tests.e2e.outbound import place_call, stack_dialing

CALLER, FROM, HUMAN = "+15550001111", "+15550002222", "+15557654321"
HOLDS = "answers_and_speaks(ring_s=0.2, tone_hz=440, speech_s=0.5, hold_s=30)"
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {},
    Provider.TELNYX: {"codec": "L16", "sampleRate": 16000},
    Provider.PLIVO: {"codec": "L16", "sampleRate": 16000},
    Provider.EXOTEL: {"sampleRate": 16000},
}
TIMEOUT_S = 30.0


@dataclass
class Agents:
    """The agent's connections: the caller's first, then the human's leg."""

    url: str
    peers: list[AgentPeer]
    leg_action: dict[str, Any] | None
    transfer_parameters: dict[str, Any] = field(default_factory=dict)


def warm_transfer(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "client_tool_invocation",
        "toolName": "warmTransfer",
        "invocationId": "warm",
        "parameters": parameters,
    }


@asynccontextmanager
async def agents(leg_action: dict[str, Any] | None = None, **transfer: Any) -> AsyncIterator[Agents]:
    """The caller's agent invokes warmTransfer once it hears the caller (and goes on talking, which the
    caller on hold must not hear); the leg's agent sends
    ``leg_action`` (a tool invocation) once it hears the human, or nothing."""
    parameters = {"target": HUMAN, "context": "a billing question", "ringTimeout": 5, **transfer}
    connections: list[AgentPeer] = []

    async def script(peer: AgentPeer) -> None:
        connections.append(peer)
        await peer.wait_for_audio(timeout_s=TIMEOUT_S)
        if len(connections) == 1:
            await peer.send_message(warm_transfer(parameters))
            await asyncio.sleep(0.5)  # the agent's behaviour: it talks on, half a second into the hold
            await peer.send_audio(b"\x10\x27" * 8000)  # 0.5 s of a constant, which the caller must not hear
        elif leg_action is not None:
            await peer.send_message(leg_action)
            if leg_action.get("toolName") == "leaveVoicemail":
                await peer.wait_for_message("forced_agent_message", timeout_s=TIMEOUT_S)
                await peer.send_audio(b"\x10\x27" * 8000)  # says the message: 0.5 s at 16 kHz
        await asyncio.Event().wait()  # stays connected until callbridge closes

    async with agent_server(script) as (url, peers):
        yield Agents(url, peers, leg_action, parameters)


def account_for(provider: Provider, human: str) -> SimulatedRestApi:
    return new_account(
        provider,
        script=CalleeScript.parse([f"{HUMAN}={human}", f"*={HOLDS}"]),
        allow_insecure_ws=True,
    )


def body(provider: Provider, agent_url: str) -> dict[str, Any]:
    medium = {**MEDIUM[provider], "outgoing": {"to": CALLER, "from": FROM}}
    agent = {"websocket": {"url": agent_url, "inputSampleRate": 16000, "outputSampleRate": 16000}}
    return {"medium": {provider.value: medium}, "agentBackend": agent}


async def transfer_steps(nats_url: str, call_id: str, *, until: set[str]) -> list[CallTransferred]:
    """The call's warm ``transfer`` events until one with an outcome in ``until``."""
    steps: list[CallTransferred] = []
    async with follow_call(nats_url, call_id) as queue, asyncio.timeout(TIMEOUT_S):
        while not steps or steps[-1].outcome not in until:
            event: CallEvent = await queue.get()
            if isinstance(event, CallTransferred):
                steps.append(event)
    return steps


async def started_call(stack: RunningStack, nats_url: str, provider: Provider, agent_url: str) -> str:
    response = await place_call(stack, body(provider, agent_url))
    assert response.status_code == 201, response.text
    call_id: str = response.json()["callId"]
    await events_of(nats_url, call_id, until=CallJoined, timeout_s=TIMEOUT_S)
    return call_id


async def tool_result(peer: AgentPeer) -> dict[str, Any]:
    message = await peer.wait_for_message("client_tool_result", timeout_s=TIMEOUT_S)
    assert message["invocationId"] == "warm"
    return message


async def hang_up(stack: RunningStack, call_id: str) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        response = await api.post(f"/api/calls/{call_id}/hang_up", json={})
    assert response.status_code == 202, response.text


RETURNS = [
    ("busy(ring_s=1.5)", "busy", None),
    ("no_answer(ring_s=1)", "no_answer", None),
    ("answers_and_speaks(speech_s=0.5, hold_s=20, keys=2)", "declined", None),
    (
        "answers_and_speaks(speech_s=0.5, hold_s=20)",
        "declined",
        {"type": "client_tool_invocation", "toolName": "declineTransfer", "invocationId": "no",
         "parameters": {"reason": "in a meeting"}},
    ),
    (
        "answers_and_speaks(speech_s=0.5, hold_s=20)",
        "voicemail",
        {"type": "client_tool_invocation", "toolName": "declineTransfer", "invocationId": "vm",
         "parameters": {"reason": "voicemail"}},
    ),
    (
        "answers_and_speaks(speech_s=0.5, hold_s=20)",
        "voicemail",
        {"type": "client_tool_invocation", "toolName": "leaveVoicemail", "invocationId": "vm",
         "parameters": {"message": "Please call the caller back."}},
    ),
]  # fmt: skip


JOINING = [Provider.TWILIO, Provider.TELNYX, Provider.PLIVO]
RETURN_CASES = [
    pytest.param(provider, *case, id=f"{provider.value}-{name}")
    for name, case in zip(
        ["busy", "no_answer", "key_2", "declineTransfer", "voicemail", "leaveVoicemail"], RETURNS, strict=True
    )
    for provider in JOINING
    if provider is Provider.TWILIO or name in ("busy", "key_2")
]


@pytest.mark.parametrize(("provider", "human", "reason", "leg_action"), RETURN_CASES)
async def test_a_warm_transfer_not_taken_returns_the_caller_to_the_agent_with_the_reason(
    nats_url: str,
    clean_jetstream: None,
    provider: Provider,
    human: str,
    reason: str,
    leg_action: dict[str, Any] | None,
) -> None:
    account = account_for(provider, human)
    async with agents(leg_action) as agent, stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, agent.url)
        steps = await transfer_steps(nats_url, call_id, until={"returned", "failed", "transferred"})
        result = await tool_result(agent.peers[0])
        record = await get_call(stack, call_id)
        await hang_up(stack, call_id)  # the call is the agent's again: it ends as a hang-up
        ended = await events_of(nats_url, call_id, until=CallEnded, timeout_s=TIMEOUT_S)
        leg_id = str(steps[0].leg_call_id)
        leg = await get_call(stack, leg_id)
        placed = {call.to: call for call in account.outbound.calls.values()}
        async with asyncio.timeout(TIMEOUT_S):
            await placed[CALLER].ended.wait()
    assert [step.outcome for step in steps] == ["dialing", "returned"]
    assert all(step.kind == "warm" for step in steps)
    assert steps[-1].reason == reason
    assert json.loads(result["result"])["reason"] == reason
    assert json.loads(result["result"])["transferred"] is False
    assert record["ended"] is None
    assert isinstance(ended[-1], CallEnded)
    assert ended[-1].end_reason == "hangup"
    assert leg["transferOf"] == call_id
    assert leg["ended"] is not None
    assert placed[HUMAN].line.conference is None
    recording = placed[CALLER].recording
    assert recording is not None
    byte_order: ByteOrder = "big" if provider is Provider.TELNYX else "little"  # the simulators' L16 orders
    sent = audio_sent_back(recording, byte_order=byte_order)
    assert dominant_hz(sent, recording.heard_rate_hz) == pytest.approx(440, abs=10)
    assert not constant_run(sent, recording.heard_rate_hz // 50)  # the agent's words on hold were not played


def constant_run(pcm: np.ndarray, length: int) -> bool:
    """Whether ``length`` samples in a row hold one loud value (the agent's constant: hold music never)."""
    loud = np.abs(pcm.astype(np.int32)) > 1000
    same = np.concatenate([[False], pcm[1:] == pcm[:-1]]) & loud
    run = 0
    for value in same:
        run = run + 1 if value else 0
        if run >= length:
            return True
    return False


def dominant_hz(pcm: np.ndarray, rate_hz: int) -> float:
    """The strongest frequency of what the caller was sent: the hold pattern's first tone (440 Hz, 0.4 s),
    since the agent itself sent no audio."""
    assert len(pcm) >= int(0.4 * rate_hz), len(pcm)
    first_tone = pcm[: int(0.4 * rate_hz)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(first_tone * np.hanning(len(first_tone))))
    return float(np.fft.rfftfreq(len(first_tone), 1 / rate_hz)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(
    ("provider", "leg_action"),
    [
        pytest.param(Provider.TWILIO, None, id="twilio-key_1"),
        pytest.param(Provider.TELNYX, None, id="telnyx-key_1"),
        pytest.param(Provider.PLIVO, None, id="plivo-key_1"),
        pytest.param(
            Provider.TWILIO,
            {"type": "client_tool_invocation", "toolName": "acceptTransfer", "invocationId": "yes",
             "parameters": {}},
            id="twilio-acceptTransfer",
        ),
    ],
)  # fmt: skip
async def test_a_warm_transfer_accepted_joins_the_two_calls_and_both_end_as_transferred(
    nats_url: str, clean_jetstream: None, provider: Provider, leg_action: dict[str, Any] | None
) -> None:
    keys = "keys=1, " if leg_action is None else ""
    account = account_for(provider, f"answers_and_speaks({keys}speech_s=0.5, hold_s=20)")
    async with agents(leg_action) as agent, stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, agent.url)
        steps = await transfer_steps(nats_url, call_id, until={"returned", "failed", "transferred"})
        ended = await events_of(nats_url, call_id, until=CallEnded, timeout_s=TIMEOUT_S)
        leg_id = str(steps[0].leg_call_id)
        leg_ended = await events_of(nats_url, leg_id, until=CallEnded, timeout_s=TIMEOUT_S)
        placed = {call.to: call for call in account.outbound.calls.values()}
        async with asyncio.timeout(TIMEOUT_S):
            await placed[HUMAN].ended.wait()
            await placed[CALLER].ended.wait()
        async with httpx.AsyncClient(base_url=stack.webhooks_url) as http:
            unsigned = await http.post(f"/api/calls/{call_id}/conference_xml/plivo", data={"CallUUID": "x"})
    assert unsigned.status_code == 403, unsigned.text  # Plivo's <Conference> is served to Plivo only
    assert [step.outcome for step in steps] == ["dialing", "transferred"]
    assert isinstance(ended[-1], CallEnded)
    assert ended[-1].end_reason == "transferred"
    assert isinstance(leg_ended[-1], CallEnded)
    assert leg_ended[-1].end_reason == "transferred"
    ((room, members),) = account.conferences.items()
    assert sorted(members) == sorted([placed[HUMAN].call_id, placed[CALLER].call_id])
    if provider is not Provider.TELNYX:  # Telnyx bridges the two calls: no conference, no name
        assert room == f"callbridge-{call_id}"
    assert placed[HUMAN].hung_up_by == placed[CALLER].hung_up_by == "joined"
    assert not placed[CALLER].line.hung_up_by_api
    assert not placed[HUMAN].line.hung_up_by_api
    assert len(agent.peers) == 2
    assert agent.peers[1].headers["X-Callbridge-Call-Id"] == leg_id


@pytest.mark.parametrize("provider", JOINING, ids=[p.value for p in JOINING])
async def test_a_caller_who_hangs_up_on_hold_ends_the_transfer_and_the_ringing_call(
    nats_url: str, clean_jetstream: None, provider: Provider
) -> None:
    account = new_account(
        provider,
        script=CalleeScript.parse(
            [f"{HUMAN}=no_answer(ring_s=20)", f"*={HOLDS.replace('hold_s=30', 'hold_s=2')}"]
        ),
        allow_insecure_ws=True,
    )
    async with agents(ringTimeout=20) as agent, stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, agent.url)
        steps = await transfer_steps(nats_url, call_id, until={"returned", "failed", "transferred"})
        ended = await events_of(nats_url, call_id, until=CallEnded, timeout_s=TIMEOUT_S)
        placed = {call.to: call for call in account.outbound.calls.values()}
        async with asyncio.timeout(TIMEOUT_S):
            await placed[HUMAN].ended.wait()
    assert [(step.outcome, step.reason) for step in steps] == [("dialing", None), ("failed", "caller_left")]
    assert isinstance(ended[-1], CallEnded)
    assert ended[-1].end_reason == "hangup"
    assert placed[HUMAN].outcome == "canceled"  # the human's phone stopped ringing: hung up through the API


async def test_exotel_refuses_a_warm_transfer_clearly(nats_url: str, clean_jetstream: None) -> None:
    provider = Provider.EXOTEL
    account = account_for(provider, "busy")
    async with agents() as agent, stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, agent.url)
        result = await tool_result(agent.peers[0])
        await hang_up(stack, call_id)
    assert "Exotel has no API to connect two calls" in result["errorMessage"]
    assert len(account.outbound.calls) == 1  # nobody else was called


async def test_hold_music_that_cannot_be_played_is_refused_to_the_agent(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    account = account_for(provider, "busy")
    async with (
        agents(holdMusicUrl="http://127.0.0.1:9/hold.mp3") as agent,
        stack_dialing(nats_url, provider, account) as stack,
    ):
        call_id = await started_call(stack, nats_url, provider, agent.url)
        result = await tool_result(agent.peers[0])
        await hang_up(stack, call_id)
    assert result["errorMessage"].startswith("warmTransfer: holdMusicUrl: it could not be fetched")
    assert len(account.outbound.calls) == 1


async def test_twilio_after_a_busy_human_the_agent_may_try_another_who_accepts(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    other = "+15557650000"
    account = new_account(
        provider,
        script=CalleeScript.parse(
            [f"{HUMAN}=busy", f"{other}=answers_and_speaks(keys=1, speech_s=0.5, hold_s=20)", f"*={HOLDS}"]
        ),
        allow_insecure_ws=True,
    )

    async def script(peer: AgentPeer) -> None:
        if "first" in connections:
            return  # the second human's leg: its key decides
        connections.append("first")
        await peer.wait_for_audio(timeout_s=TIMEOUT_S)
        await peer.send_message(warm_transfer({"target": HUMAN, "ringTimeout": 5}))
        await tool_result(peer)
        await peer.send_message(
            warm_transfer({"target": other, "ringTimeout": 5}) | {"invocationId": "again"}
        )

    connections: list[str] = []
    async with agent_server(script) as (url, _), stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, url)
        steps = await transfer_steps(nats_url, call_id, until={"transferred", "failed"})
        ended = await events_of(nats_url, call_id, until=CallEnded, timeout_s=TIMEOUT_S)
    assert [(step.outcome, step.reason, step.target) for step in steps] == [
        ("dialing", None, HUMAN),
        ("returned", "busy", HUMAN),
        ("dialing", None, other),
        ("transferred", None, other),
    ]
    assert isinstance(ended[-1], CallEnded)
    assert ended[-1].end_reason == "transferred"


async def test_twilio_the_agent_hears_silence_while_the_caller_is_on_hold(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.TWILIO
    speaking = "answers_and_speaks(ring_s=0.2, tone_hz=440, speech_s=4, hold_s=30)"
    account = new_account(
        provider,
        script=CalleeScript.parse([f"{HUMAN}=busy(ring_s=1.5)", f"*={speaking}"]),
        allow_insecure_ws=True,
    )
    marks: dict[str, int] = {}

    async def script(peer: AgentPeer) -> None:
        await peer.wait_for_audio(min_bytes=3200, timeout_s=TIMEOUT_S)  # 0.1 s of the caller's tone
        marks["invoked"] = len(peer.audio_in)
        await peer.send_message(warm_transfer({"target": HUMAN, "ringTimeout": 5}))
        await tool_result(peer)
        marks["answered"] = len(peer.audio_in)
        await asyncio.Event().wait()

    async with agent_server(script) as (url, peers), stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, url)
        await transfer_steps(nats_url, call_id, until={"returned", "failed", "transferred"})
        await tool_result(peers[0])
        await hang_up(stack, call_id)
    audio = np.frombuffer(bytes(peers[0].audio_in), dtype="<i2")
    slack = 16000 // 5  # 0.2 s at 16 kHz: frames in flight when the hold began and ended
    before = audio[: marks["invoked"] // 2]
    on_hold = audio[marks["invoked"] // 2 + slack : marks["answered"] // 2 - slack]
    assert np.abs(before).max() > 1000  # the caller's tone reached the agent before the hold
    assert len(on_hold) > 16000  # more than a second on hold (busy after 1.5 s)
    assert not on_hold.any()  # the caller still speaking, the agent hears silence


async def test_plivo_asking_for_a_warm_transfers_command_as_a_cold_transfers_xml_is_not_found(
    nats_url: str, clean_jetstream: None
) -> None:
    provider = Provider.PLIVO
    account = account_for(provider, "busy(ring_s=1.5)")
    async with agents() as agent, stack_dialing(nats_url, provider, account) as stack:
        call_id = await started_call(stack, nats_url, provider, agent.url)
        steps = await transfer_steps(nats_url, call_id, until={"dialing"})
        path = f"/api/calls/{call_id}/transfer_xml/plivo/{steps[0].command_id}"
        url = f"{stack.public_base_url.rstrip('/')}{path}"
        fields = {"CallUUID": "x"}
        signer = PlivoSimulator(url, account.auth_id, account.auth_token)  # type: ignore[attr-defined]
        headers = {SIGNATURE_HEADER: signer.sign(url, fields, "12345"), NONCE_HEADER: "12345"}
        async with httpx.AsyncClient() as http:
            response = await http.post(url, data=fields, headers=headers)
        await tool_result(agent.peers[0])
        await hang_up(stack, call_id)
    assert response.status_code == 404, response.text
