"""``inactivityMessages`` end to end: a simulated Twilio caller, webhooks and media on real sockets, a real
nats-server, and a WebSocket agent that says every ``forced_agent_message`` with a tone.

Times are read on the caller's own clock: where the caller's audio was when the agent was asked to speak
(agent_server.Said). Lower bounds are hard (callbridge waited that long), upper ones only say "soon after"
(a loaded machine included). Durations are short (0.5-1 s) to keep each test a few seconds long.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from callbridge.common.events import CallEnded
from callbridge.devkit.signals import silence, tone
from callbridge.devkit.simulators.recording import StreamRecording
from callbridge.devkit.stack import RunningStack
from tests.e2e.agent_server import AgentPeer, Said, agent_server, say_forced_messages
from tests.e2e.helpers import events_of, heard_span_s, loud_span_s, speech_8k, twilio_for

RATE_HZ = 8000
"""Twilio's μ-law stream: the caller's audio and what it hears."""
AGENT_RATE_HZ = 16000
SOON_S = 1.0
"""How soon after it is due a message must come (a loaded machine included)."""
EARLY_S = 0.1
"""How much earlier than due the caller's clock may read: caller audio reaches the agent a little late."""


def speaking_s(seconds: float) -> bytes:
    """The agent's way of saying anything: a tone this long, at its output rate."""
    return tone(500.0, seconds, AGENT_RATE_HZ, -10.0).astype("<i2").tobytes()


def messages(*entries: tuple[str, str, str]) -> list[dict[str, str]]:
    return [
        {"duration": duration, "message": text, "endBehavior": f"END_BEHAVIOR_{behavior}"}
        for duration, text, behavior in entries
    ]


async def run_call(
    stack: RunningStack,
    nats_url: str,
    timed: list[dict[str, str]],
    caller: np.ndarray,
    *,
    speech_s: float = 0.4,
    hang_up_after_s: float,
    dtmf: list[tuple[float, str]] | None = None,
) -> tuple[list[Said], StreamRecording, CallEnded, AgentPeer]:
    """One call to an agent that says each message with ``speech_s`` of tone; the caller sends ``caller``
    then silence, and hangs up after ``hang_up_after_s`` unless callbridge ends the call first."""
    said: list[Said] = []

    async def script(peer: AgentPeer) -> None:
        await say_forced_messages(peer, speaking_s(speech_s), said)

    async with agent_server(script) as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": AGENT_RATE_HZ}}
        simulator, _ = await twilio_for(stack, {"agentBackend": backend, "inactivityMessages": timed})
        call = await simulator.place_call(caller, dtmf=dtmf or [], hang_up_after_s=hang_up_after_s)
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    return said, call.recording, ended, peers[0]


async def test_messages_play_in_order_after_cumulative_silences_then_it_waits(
    stack: RunningStack, nats_url: str
) -> None:
    timed = messages(("0.5s", "Are you still there?", "UNSPECIFIED"), ("0.8s", "Hello?", "UNSPECIFIED"))
    said, recording, ended, _ = await run_call(
        stack, nats_url, timed, silence(0.1, RATE_HZ), hang_up_after_s=3.5
    )
    assert [s.content for s in said] == ["Are you still there?", "Hello?"]  # then it waits
    first, second = said[0].at_s, said[1].at_s
    assert 0.5 - EARLY_S <= first < 0.5 + SOON_S, f"first message at {first:.2f} s"
    # The second is due 0.8 s after the first has played (0.4 s of it): silence on the line, not time since
    # the first was asked for.
    assert 0.4 + 0.8 - EARLY_S <= second - first < 0.4 + 0.8 + SOON_S, f"{first:.2f} s, {second:.2f} s"
    assert recording.ended_by == "simulator"
    assert ended.end_reason == "hangup"
    assert recording.heard_s >= 0.75  # both messages were heard


@pytest.mark.parametrize("behavior", ["HANG_UP_SOFT", "HANG_UP_STRICT"])
async def test_a_hang_up_message_to_a_silent_caller_plays_then_the_call_ends(
    stack: RunningStack, nats_url: str, behavior: str
) -> None:
    timed = messages(("0.5s", "Goodbye.", behavior))
    said, recording, ended, _ = await run_call(
        stack, nats_url, timed, silence(0.1, RATE_HZ), speech_s=1.0, hang_up_after_s=6.0
    )
    assert [s.content for s in said] == ["Goodbye."]
    assert recording.ended_by == "server"
    assert recording.heard is not None
    assert heard_span_s(recording.heard, RATE_HZ) >= 0.98  # all of the goodbye
    assert recording.ended_at_s < said[0].at_s + 1.0 + SOON_S + 0.5
    assert ended.end_reason == "agent_hangup"
    assert ended.detail == f"inactivityMessages[0]: the line was silent (END_BEHAVIOR_{behavior})"


async def test_strict_hangs_up_although_the_caller_speaks_during_the_message(
    stack: RunningStack, nats_url: str
) -> None:
    # The message is due at 0.5 s and plays for 1.5 s; the caller speaks from 0.9 s, over it.
    caller = np.concatenate((silence(0.9, RATE_HZ), speech_8k("pressed")))
    timed = messages(("0.5s", "Goodbye.", "HANG_UP_STRICT"))
    said, recording, ended, _ = await run_call(
        stack, nats_url, timed, caller, speech_s=1.5, hang_up_after_s=6.0
    )
    assert [s.content for s in said] == ["Goodbye."]
    assert recording.ended_by == "server"
    assert ended.end_reason == "agent_hangup"
    assert recording.heard is not None
    assert heard_span_s(recording.heard, RATE_HZ) >= 1.48


async def test_soft_does_not_hang_up_when_the_caller_speaks_during_the_message_and_starts_over(
    stack: RunningStack, nats_url: str
) -> None:
    speech = speech_8k("pressed")
    _, speech_until_s = loud_span_s(speech, RATE_HZ)
    caller = np.concatenate((silence(0.9, RATE_HZ), speech))
    timed = messages(("0.5s", "Still there?", "HANG_UP_SOFT"))
    said, recording, ended, _ = await run_call(
        stack, nats_url, timed, caller, speech_s=1.5, hang_up_after_s=8.0
    )
    # The caller spoke over the first: no hang-up, and the sequence started again once the line was
    # silent (the second time nobody spoke, so it hung up).
    assert [s.content for s in said] == ["Still there?", "Still there?"]
    assert said[1].at_s >= 0.9 + speech_until_s + 0.5 - EARLY_S, f"second at {said[1].at_s:.2f} s"
    assert recording.ended_by == "server"
    assert ended.end_reason == "agent_hangup"


@pytest.mark.parametrize("activity", ["speech", "key"])
async def test_caller_activity_starts_the_sequence_again(
    stack: RunningStack, nats_url: str, activity: str
) -> None:
    # "one" is due at 0.5 s and plays 0.4 s; "two" would be due 1.0 s after that. The caller acts at
    # 1.2 s: "one" is said again 0.5 s after the caller was last active, then "two", which hangs up.
    timed = messages(("0.5s", "one", "UNSPECIFIED"), ("1s", "two", "HANG_UP_STRICT"))
    if activity == "speech":
        speech = speech_8k("pressed")
        _, until_s = loud_span_s(speech, RATE_HZ)
        caller, dtmf, active_until_s = np.concatenate((silence(1.2, RATE_HZ), speech)), [], 1.2 + until_s
    else:
        caller, dtmf, active_until_s = silence(0.1, RATE_HZ), [(1.2, "5")], 1.2
    said, recording, ended, _ = await run_call(stack, nats_url, timed, caller, dtmf=dtmf, hang_up_after_s=8.0)
    assert [s.content for s in said] == ["one", "one", "two"]
    again = said[1].at_s
    assert active_until_s + 0.5 - EARLY_S <= again < active_until_s + 0.5 + SOON_S, f"again at {again:.2f}"
    assert said[2].at_s - again >= 0.4 + 1.0 - EARLY_S
    assert recording.ended_by == "server"
    assert ended.end_reason == "agent_hangup"


# -- leaveVoicemail and hangUp's strict ------------------------------------------------------------


async def tool_call(
    stack: RunningStack,
    nats_url: str,
    tool: dict[str, Any],
    invocation: dict[str, Any],
    caller: np.ndarray,
    *,
    speech_s: float = 1.0,
    goodbye_s: float = 0.0,
) -> tuple[list[Said], StreamRecording, CallEnded, AgentPeer]:
    """A call whose agent invokes a tool once the call is live (after ``goodbye_s`` of audio, if any)
    and says each forced message with ``speech_s`` of tone; the caller hangs up after 6 s."""
    said: list[Said] = []

    async def script(peer: AgentPeer) -> None:
        await peer.wait_for_audio()  # the call is live
        if goodbye_s:
            await peer.send_audio(speaking_s(goodbye_s))
        await peer.send_message({"type": "client_tool_invocation", "invocationId": "tool-1", **invocation})
        await say_forced_messages(peer, speaking_s(speech_s), said)

    async with agent_server(script) as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": AGENT_RATE_HZ}}
        simulator, _ = await twilio_for(stack, {"agentBackend": backend, "selectedTools": [tool]})
        call = await simulator.place_call(caller, hang_up_after_s=6.0)
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    return said, call.recording, ended, peers[0]


def results(peer: AgentPeer) -> list[dict[str, Any]]:
    return [message for message in peer.messages if message.get("type") == "client_tool_result"]


def forced(peer: AgentPeer) -> list[dict[str, Any]]:
    return [message for message in peer.messages if message.get("type") == "forced_agent_message"]


VOICEMAIL = "Hi, this is the clinic: please call us back."
SPEAKS_OVER_IT = np.concatenate((silence(0.6, RATE_HZ), speech_8k("pressed")))
"""A callee who speaks while the agent's voicemail (or goodbye) plays: from 0.6 s, heard from about 0.8 s."""


async def test_leave_voicemail_says_the_message_then_ends_the_call_whatever_the_callee_does(
    stack: RunningStack, nats_url: str
) -> None:
    invocation = {"toolName": "leaveVoicemail", "parameters": {"message": VOICEMAIL}}
    said, recording, ended, peer = await tool_call(
        stack, nats_url, {"toolName": "leaveVoicemail"}, invocation, SPEAKS_OVER_IT
    )
    assert results(peer) == [
        {
            "type": "client_tool_result",
            "invocationId": "tool-1",
            "result": "[Leaving voicemail...]",
            "agentReaction": "listens",
        }
    ]
    assert forced(peer) == [
        {
            "type": "forced_agent_message",
            "content": VOICEMAIL,
            "urgency": "immediate",
            "uninterruptible": True,
        }
    ]
    assert [s.content for s in said] == [VOICEMAIL]
    assert recording.ended_by == "server"
    assert recording.heard is not None
    assert heard_span_s(recording.heard, RATE_HZ) >= 0.98  # all of the message
    assert (ended.end_reason, ended.detail) == ("agent_hangup", "agent left a voicemail (leaveVoicemail)")


async def test_leave_voicemail_not_strict_is_cancelled_by_the_callee_speaking(
    stack: RunningStack, nats_url: str
) -> None:
    tool = {"toolName": "leaveVoicemail", "parameterOverrides": {"strict": False, "result": "[voicemail]"}}
    invocation = {"toolName": "leaveVoicemail", "parameters": {"message": VOICEMAIL}}
    _, recording, ended, peer = await tool_call(
        stack, nats_url, tool, invocation, SPEAKS_OVER_IT, speech_s=1.5
    )
    assert [r["result"] for r in results(peer)] == ["[voicemail]"]
    assert [m["uninterruptible"] for m in forced(peer)] == [False]
    assert recording.ended_by == "simulator"  # a person answered: the call went on
    assert ended.end_reason == "hangup"


async def test_leave_voicemail_without_a_message_is_answered_with_an_error(
    stack: RunningStack, nats_url: str
) -> None:
    invocation = {"toolName": "leaveVoicemail", "parameters": {}}
    _, recording, _, peer = await tool_call(
        stack, nats_url, {"toolName": "leaveVoicemail"}, invocation, silence(0.1, RATE_HZ)
    )
    (result,) = results(peer)
    assert "needs a message" in result["errorMessage"]
    assert forced(peer) == []
    assert recording.ended_by == "simulator"


@pytest.mark.parametrize("caller", ["silent", "speaks"])
async def test_hang_up_not_strict_is_cancelled_only_by_the_caller_speaking(
    stack: RunningStack, nats_url: str, caller: str
) -> None:
    tool = {"toolName": "hangUp", "parameterOverrides": {"strict": False}}
    invocation = {"toolName": "hangUp", "parameters": {"reason": "done"}}
    audio = SPEAKS_OVER_IT if caller == "speaks" else silence(0.1, RATE_HZ)
    _, recording, ended, peer = await tool_call(stack, nats_url, tool, invocation, audio, goodbye_s=1.5)
    (result,) = results(peer)
    if caller == "speaks":
        assert result["result"] == "the caller spoke before the call ended: the call goes on"
        assert "responseType" not in result
        assert recording.ended_by == "simulator"
    else:
        assert result["responseType"] == "hang-up"
        assert recording.ended_by == "server"
        assert ended.end_reason == "agent_hangup"
        assert recording.heard is not None
        assert heard_span_s(recording.heard, RATE_HZ) >= 1.48


async def test_hang_up_strict_by_default_ends_the_call_although_the_caller_speaks(
    stack: RunningStack, nats_url: str
) -> None:
    invocation = {"toolName": "hangUp", "parameters": {"reason": "done"}}
    _, recording, ended, peer = await tool_call(
        stack, nats_url, {"toolName": "hangUp"}, invocation, SPEAKS_OVER_IT, goodbye_s=1.5
    )
    assert [r.get("responseType") for r in results(peer)] == ["hang-up"]
    assert recording.ended_by == "server"
    assert ended.end_reason == "agent_hangup"
