"""firstSpeakerSettings in one CallSession, on a fake clock: the agent's audio held until its turn, the
messages it is sent, the caller taking the turn by speech or a key, the fallback, an uninterruptible first
turn. The provider and the agent are in memory, the call record in a real NATS KV; the caller's speech is
a recorded prompt through the real speech detector."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from callbridge.common.models.conversation import (
    AgentFirstSpeaker,
    FirstSpeakerSettings,
    UserFallback,
    UserFirstSpeaker,
    VadSettings,
)
from callbridge.devkit.signals import silence, tone
from callbridge.media.agent_bridge import MAX_HELD_S
from callbridge.media.agents.messages import PlaybackClearBuffer
from callbridge.media.audio.g711 import ulaw_encode
from callbridge.media.first_speaker import CALLER_TURN_MAX_S
from tests.media.fakes import FakeAgent
from tests.media.helpers import FakeClock
from tests.media.labelled_audio import speech
from tests.media.sessions import CallRecords, SessionRun, new_call, running_session

RATE_HZ = 8000
FRAME = 160  # 20 ms at 8 kHz


def agent_first(**fields: object) -> FirstSpeakerSettings:
    return FirstSpeakerSettings(agent=AgentFirstSpeaker.model_validate(fields))


def user_first(fallback: UserFallback | None = None) -> FirstSpeakerSettings:
    return FirstSpeakerSettings(user=UserFirstSpeaker(fallback=fallback))


async def say(run: SessionRun, pcm: np.ndarray) -> None:
    assert run.agent.listener is not None
    await run.agent.listener.on_agent_audio(pcm.astype("<i2").tobytes())


async def test_agent_delay_holds_the_agents_audio_until_the_delay_then_plays_all_of_it(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    call = await new_call(records, first_speaker_settings=agent_first(delay=timedelta(seconds=2)))
    greeting = tone(500.0, 1.0, RATE_HZ, -10.0)
    async with running_session(records, call, FakeAgent(RATE_HZ), clock=clock) as run:
        run.provider.start()
        await run.started()
        await say(run, greeting)  # the agent greets at once, as many do
        await clock.advance(1.98)
        assert run.provider.audio_frames == []
        await clock.advance(0.04)
        assert run.provider.audio_frames != []
        await clock.advance(1.5)
        frames = run.provider.audio_frames
    assert frames == [ulaw_encode(greeting[i : i + FRAME]) for i in range(0, len(greeting), FRAME)]


async def test_agent_text_is_sent_as_forced_agent_message_and_prompt_as_user_text_message_at_the_delay(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    settings = agent_first(text="Hello there", delay=timedelta(seconds=1), uninterruptible=True)
    call = await new_call(records, first_speaker_settings=settings)
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await clock.advance(0.99)
        assert agent.messages == []
        await clock.advance(0.02)
        message = await agent.wait_for_message("forced_agent_message")
    assert message == {
        "type": "forced_agent_message",
        "content": "Hello there",
        "urgency": "immediate",
        "uninterruptible": True,
    }

    call = await new_call(records, first_speaker_settings=agent_first(prompt="Greet them"))
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent) as run:
        run.provider.start()
        message = await agent.wait_for_message("user_text_message")
    assert message == {"type": "user_text_message", "text": "Greet them", "urgency": "immediate"}


async def test_held_agent_audio_is_bounded(records: CallRecords) -> None:
    clock = FakeClock()
    call = await new_call(records, first_speaker_settings=agent_first(delay=timedelta(seconds=1)))
    async with running_session(records, call, FakeAgent(RATE_HZ), clock=clock) as run:
        run.provider.start()
        await run.started()
        await say(run, tone(500.0, MAX_HELD_S + 5, RATE_HZ, -10.0))
        await clock.advance(1 + MAX_HELD_S + 6)
        played = len(run.provider.audio_frames)
    assert played == MAX_HELD_S * 50


async def test_user_first_the_callers_speech_takes_the_turn_and_the_held_greeting_is_dropped(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    call = await new_call(records, first_speaker_settings=user_first())
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await say(run, tone(500.0, 0.5, RATE_HZ, -10.0))  # a greeting the agent should not have sent
        run.provider.send_audio(np.concatenate((silence(0.5, RATE_HZ), speech(RATE_HZ)["pressed"])))
        await agent.wait_for_message("user_started_speaking")
        assert run.provider.audio_frames == []
        answer = tone(700.0, 0.2, RATE_HZ, -10.0)
        await say(run, answer)  # the caller has the turn: the agent's audio plays again
        run.provider.send_audio(silence(1.0, RATE_HZ))
        await agent.wait_for_message("user_stopped_speaking")
        await clock.advance(0.5)
        frames = run.provider.audio_frames
    assert frames == [ulaw_encode(answer[i : i + FRAME]) for i in range(0, len(answer), FRAME)]
    assert [m["type"] for m in agent.messages] == ["user_started_speaking", "user_stopped_speaking"]


async def test_user_first_the_fallback_speaks_at_its_delay_when_nobody_does(records: CallRecords) -> None:
    clock = FakeClock()
    fallback = UserFallback(delay=timedelta(seconds=3), text="Is anyone there?")
    call = await new_call(records, first_speaker_settings=user_first(fallback))
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        run.provider.send_audio(silence(1.0, RATE_HZ))  # the line is live, the callee silent
        await say(run, tone(500.0, 0.2, RATE_HZ, -10.0))
        await clock.advance(2.99)
        assert agent.messages_of("forced_agent_message") == []
        assert run.provider.audio_frames == []
        await clock.advance(0.02)
        message = await agent.wait_for_message("forced_agent_message")
        await clock.advance(0.5)
        played = len(run.provider.audio_frames)
    assert message == {
        "type": "forced_agent_message",
        "content": "Is anyone there?",
        "urgency": "immediate",
        "uninterruptible": False,
    }
    assert played == 10  # what the agent sent meanwhile plays once it has the turn


async def test_user_first_a_caller_who_speaks_in_time_cancels_the_fallback(records: CallRecords) -> None:
    clock = FakeClock()
    fallback = UserFallback(delay=timedelta(seconds=3), text="Is anyone there?")
    call = await new_call(records, first_speaker_settings=user_first(fallback))
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        run.provider.send_audio(speech(RATE_HZ)["digit_3"])
        await agent.wait_for_message("user_started_speaking")
        await clock.advance(10)
    assert agent.messages_of("forced_agent_message") == []


async def test_user_first_a_key_takes_the_turn(records: CallRecords) -> None:
    clock = FakeClock()
    fallback = UserFallback(delay=timedelta(seconds=3), prompt="Ask who is there")
    call = await new_call(records, first_speaker_settings=user_first(fallback))
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        run.provider.dtmf("5")
        await agent.wait_for_message("user_text_message")
        await clock.advance(10)
        answer = tone(700.0, 0.1, RATE_HZ, -10.0)
        await say(run, answer)
        await clock.advance(0.2)
        played = len(run.provider.audio_frames)
    # The key reached the agent as keys do; no fallback prompt, no speech messages; its answer plays.
    assert agent.messages == [{"type": "user_text_message", "text": "5", "urgency": "immediate"}]
    assert played == 5


async def test_an_uninterruptible_first_turn_ignores_barge_in_until_it_has_played(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    call = await new_call(records, first_speaker_settings=agent_first(uninterruptible=True))
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock, playout_lead_ms=100) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await say(run, tone(500.0, 1.0, RATE_HZ, -10.0))
        await clock.advance(0.2)
        await agent.listener.on_agent_message(PlaybackClearBuffer())
        assert run.provider.clears == 0
        await clock.advance(1.0)  # the greeting has played: every mark came back
        assert len(run.provider.audio_frames) == 50
        await say(run, tone(500.0, 1.0, RATE_HZ, -10.0))
        await clock.advance(0.2)
        await agent.listener.on_agent_message(PlaybackClearBuffer())
        assert run.provider.clears == 1  # the second turn may be cut


async def test_callbridge_stops_listening_to_a_first_turn_that_goes_on_and_on(records: CallRecords) -> None:
    vad = VadSettings(turn_endpoint_delay=timedelta(seconds=2))  # longer than any pause in the clip
    call = await new_call(records, first_speaker_settings=user_first(), vad_settings=vad)
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent) as run:
        run.provider.start()
        await run.started()
        clip = speech(RATE_HZ)["greeting"][: 7 * RATE_HZ]  # 7 s of talking
        caller = np.concatenate([clip] * (int(CALLER_TURN_MAX_S / 7) + 2) + [silence(0.5, RATE_HZ)])
        run.provider.send_audio(caller)
        await agent.wait_for_audio(len(caller) * 2, timeout_s=30)  # everything went past the detector
        first_turn = run.session._first_turn
        assert first_turn is not None
        assert not first_turn.listening
    assert [m["type"] for m in agent.messages] == ["user_started_speaking"]
