"""firstSpeakerSettings end to end: a simulated Twilio caller, webhooks and media on real sockets, a real
nats-server, and the demo agent or a WebSocket agent. Timing is measured on the audio the caller received
(the simulator's clock starts when the stream opens, just before media learns of it), with bounds wide
enough for a loaded machine: the lower bounds are hard (callbridge holds the audio back), the upper ones
only say "soon after"."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from callbridge.common.events import AgentTranscript, CallEvent
from callbridge.common.models.medium import Provider
from callbridge.devkit.provision import provision_simulated_agent
from callbridge.devkit.signals import silence
from callbridge.devkit.stack import RunningStack
from callbridge.media.agents.demo import GREETING, SAMPLE_RATE_HZ, prompt
from callbridge.media.audio.resampler import create_resampler
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import events_of, speech_8k, twilio_for

RATE_HZ = 8000
"""Twilio's μ-law stream: the caller's audio and what it hears."""
SOON_S = 1.5
"""How soon after it is due the agent's audio must reach the caller (a loaded machine included)."""


def first_heard_s(recording: Any) -> float | None:
    """When the first of the agent's audio reached the caller (seconds from the stream's start)."""
    return recording.outbound_media_at_s[0] if recording.outbound_media_at_s else None


def agent_lines(events: list[CallEvent]) -> list[str | None]:
    return [e.text for e in events if isinstance(e, AgentTranscript) and e.role == "agent"]


async def test_agent_first_with_a_delay_is_heard_only_after_the_delay(
    stack: RunningStack, nats_url: str
) -> None:
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": {"agent": {"delay": "1.2s"}}})
    call = await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=3.0)
    heard_at = first_heard_s(call.recording)
    assert heard_at is not None
    assert 1.2 <= heard_at < 1.2 + SOON_S, f"first agent audio at {heard_at:.3f} s"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == [GREETING]


async def test_agent_first_text_is_what_the_agent_says(stack: RunningStack, nats_url: str) -> None:
    text = "Hello, this is your appointment reminder."
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": {"agent": {"text": text}}})
    call = await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=1.5)
    assert first_heard_s(call.recording) is not None
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == [text]


async def test_a_websocket_agent_is_given_text_or_prompt_after_the_delay_and_its_early_audio_waits(
    stack: RunningStack,
) -> None:
    greeting = np.full(8000, 3000, dtype="<i2").tobytes()  # 0.5 s at 16 kHz, sent at once on connect
    arrived: dict[str, float] = {}

    async def script(peer: AgentPeer) -> None:
        loop = asyncio.get_running_loop()
        await peer.send_audio(greeting)
        message = await peer.wait_for_message("forced_agent_message", timeout_s=10)
        arrived["forced"] = loop.time()
        assert message == {
            "type": "forced_agent_message",
            "content": "Hi!",
            "urgency": "immediate",
            "uninterruptible": True,
        }

    async with agent_server(script) as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000}}
        settings = {"agent": {"text": "Hi!", "delay": "1s", "uninterruptible": True}}
        simulator, _ = await twilio_for(stack, {"agentBackend": backend, "firstSpeakerSettings": settings})
        call = await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=2.5)
    (peer,) = peers
    assert [m["type"] for m in peer.messages] == ["forced_agent_message"]
    heard_at = first_heard_s(call.recording)
    assert heard_at is not None
    assert 1.0 <= heard_at < 1.0 + SOON_S, f"the agent's early audio played at {heard_at:.3f} s"

    async with agent_server() as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000}}
        settings = {"agent": {"prompt": "Greet the caller by name"}}
        simulator, _ = await twilio_for(stack, {"agentBackend": backend, "firstSpeakerSettings": settings})
        await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=0.6)
    (peer,) = peers
    assert peer.messages == [
        {"type": "user_text_message", "text": "Greet the caller by name", "urgency": "immediate"}
    ]


@pytest.mark.slow
async def test_an_uninterruptible_greeting_is_not_cut_by_a_key(stack: RunningStack, nats_url: str) -> None:
    # The demo agent barges in on itself when a key is pressed: a plain greeting is cut at once.
    simulator, _ = await twilio_for(stack, {}, name="interruptible")
    call = await simulator.place_call(silence(0.1, RATE_HZ), dtmf=[(1.0, "1")], hang_up_after_s=3.0)
    assert call.recording.clears_at_s, "the demo agent should cut its greeting on a key"

    settings = {"agent": {"uninterruptible": True}}
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": settings}, name="uninterruptible")
    greeting_s = len(prompt("greeting")) / 2 / SAMPLE_RATE_HZ
    call = await simulator.place_call(
        silence(0.1, RATE_HZ), dtmf=[(1.0, "1")], hang_up_after_s=greeting_s + 2
    )
    recording = call.recording
    assert recording.clears_at_s == []
    # The whole greeting played, and the key's read-back after it.
    assert recording.heard_s >= greeting_s + 0.5, f"heard {recording.heard_s:.2f} s"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == [GREETING, "You pressed 1."]


async def test_user_first_the_agent_answers_once_the_caller_has_spoken(
    stack: RunningStack, nats_url: str
) -> None:
    speech = speech_8k("pressed")  # "You pressed", 0.9 s
    loud = np.flatnonzero(np.abs(speech.astype(np.int32)) > 200)
    speech_from_s = 1.0 + loud[0] / RATE_HZ
    speech_until_s = 1.0 + loud[-1] / RATE_HZ
    caller = np.concatenate((silence(1.0, RATE_HZ), speech))
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": {"user": {}}})
    call = await simulator.place_call(caller, tail_s=2.5)
    heard_at = first_heard_s(call.recording)
    assert heard_at is not None, "the agent never answered"
    # The agent waited for the caller to finish (turnEndpointDelay of silence: 0.384 s by default),
    # counted from the last frame the detector heard as speech: a word's faint tail may be a frame or
    # three (32 ms each) shorter to it than to a sample threshold.
    assert speech_until_s + 0.384 - 0.1 <= heard_at < speech_until_s + 0.384 + SOON_S, (
        f"speech {speech_from_s:.2f}-{speech_until_s:.2f} s, agent heard at {heard_at:.3f} s"
    )
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == [GREETING]


async def test_user_first_a_websocket_agent_is_told_when_the_caller_starts_and_stops(
    stack: RunningStack,
) -> None:
    async with agent_server() as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000}}
        settings = {"firstSpeakerSettings": {"user": {}}, "vadSettings": {"turnEndpointDelay": "0.8s"}}
        simulator, _ = await twilio_for(stack, {"agentBackend": backend, **settings})
        caller = np.concatenate((silence(0.5, RATE_HZ), speech_8k("digit_7")))
        await simulator.place_call(caller, tail_s=1.5)
    (peer,) = peers
    assert peer.messages == [{"type": "user_started_speaking"}, {"type": "user_stopped_speaking"}]


async def test_user_first_with_fallback_the_agent_speaks_after_the_delay_when_nobody_does(
    stack: RunningStack, nats_url: str
) -> None:
    text = "Hello, is John available?"
    settings = {"user": {"fallback": {"delay": "1.5s", "text": text}}}
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": settings})
    call = await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=3.5)
    heard_at = first_heard_s(call.recording)
    assert heard_at is not None
    assert 1.5 <= heard_at < 1.5 + SOON_S, f"the fallback was heard at {heard_at:.3f} s"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == [text]


async def test_user_first_without_fallback_the_agent_never_speaks_to_a_silent_callee(
    stack: RunningStack,
) -> None:
    greeting = np.full(16000, 3000, dtype="<i2").tobytes()  # an agent that greets anyway, on connect

    async def script(peer: AgentPeer) -> None:
        await peer.send_audio(greeting)

    async with agent_server(script) as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000}}
        simulator, _ = await twilio_for(
            stack, {"agentBackend": backend, "firstSpeakerSettings": {"user": {}}}
        )
        call = await simulator.place_call(silence(0.1, RATE_HZ), hang_up_after_s=4.0)
    assert call.recording.outbound_media_at_s == []
    (peer,) = peers
    assert peer.messages == []
    # The line was live all along: the agent had the caller's silence.
    assert len(peer.audio_in) >= 3.5 * 16000 * 2


async def test_user_first_a_key_gives_the_caller_the_turn(stack: RunningStack, nats_url: str) -> None:
    simulator, _ = await twilio_for(stack, {"firstSpeakerSettings": {"user": {}}})
    call = await simulator.place_call(silence(0.1, RATE_HZ), dtmf=[(0.8, "4")], hang_up_after_s=3.5)
    heard_at = first_heard_s(call.recording)
    assert heard_at is not None
    assert 0.8 <= heard_at < 0.8 + 0.4 + SOON_S  # keys reach the agent 0.4 s after the last one
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert agent_lines(events) == ["You pressed 4."]


@pytest.mark.parametrize("provider", [Provider.TELNYX, Provider.PLIVO, Provider.EXOTEL])
async def test_user_first_on_16_khz_providers_the_agent_hears_when_the_caller_starts_and_stops(
    stack: RunningStack, provider: Provider
) -> None:
    async with agent_server() as (agent_url, peers):
        backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000}}
        template = {"agentBackend": backend, "firstSpeakerSettings": {"user": {}}}
        simulator, _ = await provision_simulated_agent(
            stack.webhooks_url, stack.api_key, stack.public_base_url, provider, call_template=template
        )
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        rate = simulator.inbound_codec(answer).sample_rate_hz
        assert rate == 16000
        words = np.frombuffer(prompt("pressed"), dtype="<i2")
        caller = np.concatenate((silence(0.5, rate), create_resampler(SAMPLE_RATE_HZ, rate).process(words)))
        await simulator.stream(answer, caller, tail_s=1.2)
    (peer,) = peers
    assert peer.messages == [{"type": "user_started_speaking"}, {"type": "user_stopped_speaking"}]
