"""CallSession on its own: a provider and an agent in memory (the provider speaking Twilio's wire format as
the devkit writes it), the call record in a real NATS KV. The stream's start, the audio both ways, barge-in
and the end reasons; tools and commands are in test_session_control.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import numpy as np
import pytest

from callbridge.common.events import CallJoined, DtmfReceived, PlayoutTruncated
from callbridge.common.models.call import EndReason
from callbridge.devkit.signals import sinad_db, tone
from callbridge.media.agents.messages import PlaybackClearBuffer
from callbridge.media.audio.g711 import ulaw_encode
from tests.media.fakes import FakeAgent
from tests.media.helpers import FakeClock
from tests.media.sessions import CallRecords, new_call, running_session

RATE_HZ = 8000
FRAME = 160  # 20 ms at 8 kHz


async def test_the_start_is_recorded_and_caller_audio_reaches_the_agent_at_its_rate(
    records: CallRecords,
) -> None:
    call = await new_call(records)
    agent = FakeAgent(16000)
    async with running_session(records, call, agent) as run:
        run.provider.start()
        await run.started()
        run.provider.send_audio(tone(1000.0, 0.2, RATE_HZ, -10.0))
        await agent.wait_for_audio(10 * 640)  # ten 20 ms frames at 16 kHz
        joined = await records.published.wait_for(CallJoined)
    assert joined.provider_details is not None
    assert joined.provider_details.stream_id == run.provider.wire.stream_id
    assert joined.provider_details.media_format == "pcmu/8000"
    heard = np.frombuffer(bytes(agent.audio), dtype="<i2")
    assert len(heard) == 10 * 320
    assert sinad_db(heard[320:], 1000.0, 16000) > 30.0  # μ-law's own limit, resampled 8 to 16 kHz
    record = (await records.stores.calls.get(str(call.call_id))).value
    assert record.provider_details is not None
    assert record.provider_details.call_id == run.provider.wire.call_id


async def test_agent_audio_leaves_in_frames_paced_at_most_the_lead_ahead_each_followed_by_a_mark(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    call = await new_call(records)
    agent = FakeAgent(RATE_HZ)
    speech = tone(700.0, 1.0, RATE_HZ, -6.0)
    async with running_session(records, call, agent, clock=clock, playout_lead_ms=100) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await agent.listener.on_agent_audio(speech.tobytes())
        # Within the lead at once: the frames that end no more than 100 ms ahead of the playout clock.
        assert len(run.provider.audio_frames) == 6
        await clock.advance(0.5)
        assert len(run.provider.audio_frames) == 6 + 25
        await clock.advance(0.5)
        assert len(run.provider.audio_frames) == 50
    frames = run.provider.audio_frames
    assert frames == [ulaw_encode(speech[i : i + FRAME]) for i in range(0, len(speech), FRAME)]
    kinds = ["audio" if m.audio is not None else "mark" for m in run.provider.read[: 2 * 50]]
    assert kinds == ["audio", "mark"] * 50
    assert run.provider.marks == [f"0.{n}" for n in range(1, 51)]


async def test_barge_in_clears_the_provider_drops_the_queue_and_reports_what_was_heard(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    call = await new_call(records)
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent, clock=clock, playout_lead_ms=100) as run:
        run.provider.start()
        await run.started()
        run.provider.echo_marks = False
        assert agent.listener is not None
        await agent.listener.on_agent_audio(tone(700.0, 1.0, RATE_HZ, -6.0).tobytes())
        await clock.advance(0.04)  # two frames' worth of the turn has played
        await agent.listener.on_agent_message(PlaybackClearBuffer())
        sent = len(run.provider.audio_frames)
        await clock.advance(1.0)
        assert len(run.provider.audio_frames) == sent  # nothing of the cut turn leaves after the clear
        truncated = await records.published.wait_for(PlayoutTruncated)
    assert run.provider.clears == 1
    assert truncated.sent_ms == sent * 20
    assert truncated.dropped_frames == 50 - sent
    assert truncated.acknowledged_ms == 0
    assert truncated.heard_ms == 40  # by the media clock: what had played when the clear went out


async def test_keys_pressed_are_published_and_reach_the_agent_as_one_text_message(
    records: CallRecords,
) -> None:
    call = await new_call(records)
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, call, agent) as run:
        run.provider.start()
        await run.started()
        for digit in "12#":
            run.provider.dtmf(digit)
        message = await agent.wait_for_message("user_text_message")
    assert message == {"type": "user_text_message", "text": "12#", "urgency": "immediate"}
    assert [event.digit for event in records.published.of(DtmfReceived)] == ["1", "2", "#"]


# -- end reasons --------------------------------------------------------------------------------------


async def test_the_provider_sending_stop_ends_the_call_as_hangup(records: CallRecords) -> None:
    async with running_session(records, await new_call(records), FakeAgent()) as run:
        run.provider.start()
        await run.started()
        run.provider.stop()
        ended = await run.ended()
    assert (ended.end_reason, ended.detail) == (EndReason.HANGUP, "provider sent stop")
    assert run.provider.socket.closed_with == (1000, "hangup")


async def test_the_provider_closing_the_socket_ends_the_call_as_hangup(records: CallRecords) -> None:
    async with running_session(records, await new_call(records), FakeAgent()) as run:
        run.provider.start()
        await run.started()
        run.provider.socket.hang_up()
        ended = await run.ended()
    assert ended.end_reason == EndReason.HANGUP
    assert ended.detail is not None
    assert ended.detail.startswith("provider closed the stream")


async def test_a_stream_closed_before_its_start_ends_the_call_as_hangup(records: CallRecords) -> None:
    agent = FakeAgent()
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.socket.hang_up()
        ended = await run.ended()
    assert (ended.end_reason, ended.detail) == (EndReason.HANGUP, "stream closed before start")
    assert not agent.started.is_set()


async def test_no_start_within_the_start_timeout_ends_the_call_as_connection_error(
    records: CallRecords,
) -> None:
    async with running_session(records, await new_call(records), FakeAgent(), start_timeout_s=0.2) as run:
        ended = await run.ended()
    assert (ended.end_reason, ended.detail) == (
        EndReason.CONNECTION_ERROR,
        "no start message from the provider",
    )
    assert run.provider.socket.closed_with == (1000, "connection_error")


async def test_an_agent_that_cannot_be_reached_ends_the_call_as_connection_error(
    records: CallRecords,
) -> None:
    agent = FakeAgent(connect_error="connection refused")
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        ended = await run.ended()
    assert (ended.end_reason, ended.detail) == (
        EndReason.CONNECTION_ERROR,
        "agent unavailable: connection refused",
    )
    assert not agent.started.is_set()


@pytest.mark.parametrize(
    ("error", "reason"),
    [(None, EndReason.AGENT_HANGUP), ("agent closed with code 1011: boom", EndReason.CONNECTION_ERROR)],
)
async def test_the_agent_going_away_ends_the_call(
    records: CallRecords, error: str | None, reason: EndReason
) -> None:
    agent = FakeAgent()
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        agent.listener.on_agent_closed(error)
        ended = await run.ended()
    assert ended.end_reason == reason
    assert agent.closed


async def test_max_duration_ends_the_call_as_timeout(records: CallRecords) -> None:
    clock = FakeClock()
    call = await new_call(records, max_duration=timedelta(seconds=30))
    async with running_session(records, call, FakeAgent(speaks_text=False), clock=clock) as run:
        run.provider.start()
        await run.started()
        await clock.advance(29.9)
        assert not run.task.done()
        await clock.advance(0.2)
        ended = await run.ended()
    assert (ended.end_reason, ended.detail) == (EndReason.TIMEOUT, "maxDuration reached")


async def test_the_time_exceeded_message_is_waited_for_and_played_before_the_end(
    records: CallRecords,
) -> None:
    call = await new_call(
        records, max_duration=timedelta(seconds=0.2), time_exceeded_message="Sorry, we are out of time."
    )
    agent = FakeAgent(RATE_HZ)
    goodbye = tone(500.0, 0.3, RATE_HZ, -6.0)
    thinking: list[asyncio.Task[None]] = []

    async def answer_after_thinking() -> None:
        await asyncio.sleep(1.2)  # the agent takes longer than a second to start speaking
        assert agent.listener is not None
        await agent.listener.on_agent_audio(goodbye.tobytes())

    def on_message(message: dict[str, object]) -> None:
        if message["type"] == "forced_agent_message":
            thinking.append(asyncio.create_task(answer_after_thinking()))

    agent.on_message = on_message
    async with running_session(records, call, agent) as run:
        run.provider.start()
        ended = await run.ended()
    assert agent.messages_of("forced_agent_message") == [
        {"type": "forced_agent_message", "content": "Sorry, we are out of time.", "urgency": "immediate"}
    ]
    assert ended.end_reason == EndReason.TIMEOUT
    assert len(run.provider.audio_frames) == 15  # the whole goodbye was sent (and its marks echoed)
    await asyncio.gather(*thinking)


async def test_an_unexpected_failure_ends_that_call_as_system_error(records: CallRecords) -> None:
    class BrokenAgent(FakeAgent):
        async def send_audio(self, pcm: bytes) -> None:
            raise RuntimeError("a bug on the caller's audio path")

    async with running_session(records, await new_call(records), BrokenAgent()) as run:
        run.provider.start()
        await run.started()
        run.provider.send_audio(tone(1000.0, 0.02, RATE_HZ))
        ended = await run.ended()
    assert ended.end_reason == EndReason.SYSTEM_ERROR
    assert ended.detail == "RuntimeError: a bug on the caller's audio path"
    record = (await records.stores.calls.get(str(ended.call_id))).value
    assert record.end_reason == EndReason.SYSTEM_ERROR
