"""``inactivityMessages`` on one CallSession, with the provider and agent in memory: the paths the end-to-end
tests (tests/e2e/test_inactivity.py) do not take: agents that cannot say a message, empty messages, and a
soft hang-up cancelled by a key while its message is still playing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from callbridge.common.models.call import EndReason
from callbridge.common.models.conversation import EndBehavior, TimedMessage
from callbridge.devkit.signals import tone
from tests.media.fakes import FakeAgent
from tests.media.sessions import CallRecords, new_call, running_session

RATE_HZ = 8000


def timed(message: str, behavior: EndBehavior, seconds: float = 0.2) -> TimedMessage:
    return TimedMessage(duration=timedelta(seconds=seconds), message=message, end_behavior=behavior)


async def test_an_agent_that_does_not_speak_text_skips_the_message_but_its_hang_up_applies(
    records: CallRecords,
) -> None:
    agent = FakeAgent(RATE_HZ, speaks_text=False)
    call = await new_call(records, inactivity_messages=[timed("Goodbye.", EndBehavior.HANG_UP_STRICT)])
    async with running_session(records, call, agent) as run:
        run.provider.start()
        ended = await run.ended()
    assert agent.messages_of("forced_agent_message") == []
    assert ended.end_reason == EndReason.AGENT_HANGUP
    assert ended.detail == "inactivityMessages[0]: the line was silent (END_BEHAVIOR_HANG_UP_STRICT)"


async def test_an_empty_message_says_nothing_and_hangs_up(records: CallRecords) -> None:
    agent = FakeAgent(RATE_HZ)
    messages = [timed("", EndBehavior.UNSPECIFIED), timed("", EndBehavior.HANG_UP_SOFT)]
    async with running_session(records, await new_call(records, inactivity_messages=messages), agent) as run:
        run.provider.start()
        ended = await run.ended()
    assert agent.messages_of("forced_agent_message") == []
    assert ended.detail == "inactivityMessages[1]: the line was silent (END_BEHAVIOR_HANG_UP_SOFT)"


async def test_a_key_while_a_soft_message_plays_cancels_the_hang_up_and_the_list_starts_again(
    records: CallRecords,
) -> None:
    agent = FakeAgent(RATE_HZ)
    call = await new_call(records, inactivity_messages=[timed("Still there?", EndBehavior.HANG_UP_SOFT)])
    saying = tone(500.0, 0.2, RATE_HZ, -10.0).tobytes()  # 10 frames
    async with running_session(records, call, agent) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        run.provider.echo_marks = False  # the message keeps playing until the marks come back
        await agent.wait_for_message("forced_agent_message")
        await agent.listener.on_agent_audio(saying)
        await run.provider.socket.wait_until(lambda: len(run.provider.audio_frames) == 10)
        run.provider.dtmf("5")  # the caller, while the message plays
        for name in run.provider.marks:
            echo = run.provider.wire.mark_echo(name, cleared=False)
            assert echo is not None
            run.provider.socket.deliver(echo)
        run.provider.echo_marks = True
        # Not hung up: the list starts again, and this time nobody answers.
        async with asyncio.timeout(5.0):
            while len(agent.messages_of("forced_agent_message")) < 2:
                agent.changed.clear()
                await agent.changed.wait()
        await agent.listener.on_agent_audio(saying)
        ended = await run.ended()
    assert [m["content"] for m in agent.messages_of("forced_agent_message")] == ["Still there?"] * 2
    assert ended.end_reason == EndReason.AGENT_HANGUP
    assert len(run.provider.audio_frames) == 20  # both times, all of it
