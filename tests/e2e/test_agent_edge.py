"""Whatever an agent sends, the call goes on: invalid messages are counted and skipped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from callbridge.common.events import AgentToolInvoked, AgentTranscript, CallEnded
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import sinad_db, tone
from callbridge.devkit.stack import RunningStack, StackConfig, run_stack
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import API_KEY, SECRET_KEY, create_call, events_of, get_call
from tests.e2e.provider_client import provider_client

RATE_HZ = 16000
MAX_MESSAGE_BYTES = 256 * 1024  # the media service's default CALLBRIDGE_MAX_MESSAGE_BYTES
TONE_HZ = 700.0


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def _tool(parameters: str, invocation_id: str) -> str:
    return (
        '{"type":"client_tool_invocation","toolName":"lookupOrder",'
        f'"invocationId":"{invocation_id}","parameters":{parameters}}}'
    )


def _each(base: dict[str, Any], field: str, values: tuple[Any, ...]) -> list[dict[str, Any]]:
    """``base`` with ``field`` set to each of ``values`` in turn."""
    return [{**base, field: value} for value in values]


_TRANSCRIPT = {"type": "transcript", "role": "agent", "text": "hi"}
_HANG_UP = {"type": "client_tool_invocation", "toolName": "hangUp", "invocationId": "bye"}
# Wrong types (and out-of-range values) in every field of every message kind callbridge acts on. Several
# are hang-ups: acting on one would end the call.
WRONG_FIELDS: list[dict[str, Any]] = [
    *_each(_TRANSCRIPT, "role", (5, None, "system", [], {})),
    *_each(_TRANSCRIPT, "text", (5, [], {}, True)),
    *_each(_TRANSCRIPT, "delta", (5, ["x"])),
    *_each(_TRANSCRIPT, "final", ("yes", 1, None)),
    *_each(_TRANSCRIPT, "ordinal", ("3", True, -1, 1.5)),
    *_each({"type": "state"}, "state", (5, None, [], {}, "", "x" * 1000)),
    *_each(_HANG_UP, "toolName", (5, None, [], "", "x" * 1000)),
    *_each(_HANG_UP, "invocationId", (5, [], {}, "x" * 1000)),
    *_each(_HANG_UP, "parameters", ([], "x", 5)),
    *_each({}, "type", (5, None, [], {}, True)),
    {"no": "type"},
]
REJECTED: list[str] = [
    *(orjson.dumps(message).decode() for message in WRONG_FIELDS),
    *("[]", "1", '"x"', "null", "true", "{", "not json", ""),  # not JSON objects
    _tool(_deep(10_000), "deep-10000"),  # deeper than any JSON parser follows
]
IGNORED = ['{"type":"debug","message":"x"}', '{"type":"experimental_message","x":1}']


async def metric(stack: RunningStack, name: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(stack.media_url.replace("ws://", "http://") + "/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


async def test_nothing_an_agent_sends_ends_the_call_or_misaligns_its_audio(
    stack: RunningStack, nats_url: str
) -> None:
    speech = tone(TONE_HZ, 0.6, RATE_HZ, -10.0).astype("<i2").tobytes()
    at_size_limit = '{"type":"transcript","role":"agent","final":true,"text":"' + "y" * 10 + '"}'
    at_size_limit = at_size_limit.replace("y" * 10, "y" * (10 + MAX_MESSAGE_BYTES - len(at_size_limit)))
    assert len(at_size_limit) == MAX_MESSAGE_BYTES

    async def misbehave(peer: AgentPeer) -> None:
        for text in [*REJECTED, *IGNORED]:
            await peer.connection.send(text)
        await peer.connection.send(_tool(_deep(100), "deep-100"))
        await peer.connection.send(_tool(orjson.dumps({"blob": "x" * 100_000}).decode(), "huge"))
        await peer.connection.send(at_size_limit)
        # s16le in frames of odd lengths: a sample split across frames must not shift the rest by a byte.
        cuts = [0, 641, 1280, 1281, 3843, 3844, 7001, len(speech)]
        for start, end in itertools.pairwise(cuts):
            await peer.send_audio(speech[start:end])
        await peer.send_message({"type": "transcript", "role": "agent", "text": "still here", "final": True})

    rejected_before = await metric(stack, "callbridge_media_agent_messages_rejected_total")
    async with agent_server(misbehave) as (agent_url, _):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": RATE_HZ}}
        call = await create_call(stack, {"agentBackend": backend})
        async with provider_client(call["joinUrl"], Provider.PLIVO) as client:
            heard = await client.wait_for_audio(len(speech) // 2)
            assert not client.closed
            await client.stop()
    margin = RATE_HZ // 50
    sinad = sinad_db(heard[margin : len(speech) // 2 - margin], TONE_HZ, RATE_HZ)
    assert sinad >= 70.0, f"agent audio after odd-length frames: SINAD {sinad:.1f} dB"
    events = await events_of(nats_url, call["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup", ended.detail
    assert ended.agent_messages_rejected == len(REJECTED)
    transcripts = [e.text for e in events if isinstance(e, AgentTranscript)]
    assert transcripts[-1] == "still here"
    assert transcripts[0] is not None
    assert transcripts[0] == "y" * 16_000  # cut at the limit
    tools = {e.invocation_id: e for e in events if isinstance(e, AgentToolInvoked)}
    assert set(tools) == {"deep-100", "huge"}
    for invocation in tools.values():
        assert invocation.tool_name == "lookupOrder"
        assert list(invocation.parameters) == ["droppedByCallbridge"]
    assert "deeper than" in tools["deep-100"].parameters["droppedByCallbridge"]
    assert "bytes" in tools["huge"].parameters["droppedByCallbridge"]
    rejected_after = await metric(stack, "callbridge_media_agent_messages_rejected_total")
    assert rejected_after - rejected_before == len(REJECTED)


@pytest.mark.parametrize("odd", [1, 3, 321])
async def test_odd_length_agent_audio_is_carried_not_shifted(
    stack: RunningStack, nats_url: str, odd: int
) -> None:
    speech = tone(TONE_HZ, 0.4, RATE_HZ, -10.0).astype("<i2").tobytes()

    async def speak_in_odd_frames(peer: AgentPeer) -> None:
        for start in range(0, len(speech), odd):
            await peer.send_audio(speech[start : start + odd])

    async with agent_server(speak_in_odd_frames) as (agent_url, _):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": RATE_HZ}}
        call = await create_call(stack, {"agentBackend": backend})
        async with provider_client(call["joinUrl"], Provider.PLIVO) as client:
            heard = await client.wait_for_audio(len(speech) // 2)
            await client.stop()
    sent = np.frombuffer(speech, dtype="<i2")
    np.testing.assert_array_equal(heard[: len(sent)], sent)


async def test_an_agent_that_never_answers_its_handshake_ends_the_call_when_its_socket_closes(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_timeout_s = 2.0
    monkeypatch.setenv("CALLBRIDGE_AGENT_CONNECT_TIMEOUT_S", str(connect_timeout_s))
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # the TCP connection stays open; the HTTP upgrade is never answered

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)) as stack:
            backend = {"websocket": {"url": f"ws://127.0.0.1:{port}/agent"}}
            call = await create_call(stack, {"agentBackend": backend})
            async with provider_client(call["joinUrl"], Provider.TWILIO) as client:
                # Like a real provider, it streams the caller's audio in real time meanwhile: far more frames
                # than media reads ahead while it waits for the agent.
                frame = np.zeros(160, dtype=np.int16)
                loop = asyncio.get_running_loop()
                began = loop.time()
                while not client.closed and loop.time() - began < connect_timeout_s + 15.0:
                    with contextlib.suppress(ConnectionClosed):
                        await client.send(client.media_message(frame))
                    await asyncio.sleep(0.02)  # the provider's 20 ms frame clock
                await client.wait_closed(timeout_s=1.0)
                closed = datetime.now(UTC)
            events = await events_of(nats_url, call["callId"])
            record = await get_call(stack, call["callId"])
    finally:
        for writer in held:
            writer.close()
        silent.close()
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "connection_error"
    assert ended.detail is not None
    assert "agent unavailable" in ended.detail
    joined, ended_at = datetime.fromisoformat(record["joined"]), datetime.fromisoformat(record["ended"])
    # The provider socket closed a connect timeout after the join (not a close timeout later, its close
    # frame stuck behind the frames nobody read), and the record says the call ended then.
    assert (closed - joined).total_seconds() <= connect_timeout_s + 1.0, closed - joined
    assert abs((ended_at - closed).total_seconds()) <= 0.5, (ended_at - joined, closed - joined)
