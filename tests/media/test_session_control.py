"""Acting on a live CallSession: the agent's tools (a table the session is built with) and commands over the
call's command channel (real NATS request/reply), with the provider and agent in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from callbridge.common import subjects
from callbridge.common.command_client import CallNotHeldError, MediaCommands
from callbridge.common.commands import (
    API_HANG_UP_DETAIL,
    CommandAccepted,
    CommandRefused,
    HangUpCall,
    RefusalReason,
    SayMessage,
    TransferHandOff,
    parse_reply,
)
from callbridge.common.events import AgentToolAnswered, AgentToolInvoked
from callbridge.common.models.call import EndReason
from callbridge.common.models.conversation import FirstSpeakerSettings, UserFallback, UserFirstSpeaker
from callbridge.devkit.signals import tone
from callbridge.media.agents.messages import ClientToolInvocation
from callbridge.media.audio.g711 import ulaw_encode
from callbridge.media.command_channel import CommandChannel
from callbridge.media.control import CallControl
from callbridge.media.tools import default_tools, tool_result
from tests.media.fakes import FakeAgent
from tests.media.sessions import CallRecords, SessionRun, new_call, running_session

RATE_HZ = 8000


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@asynccontextmanager
async def taking_commands(records: CallRecords, run: SessionRun) -> AsyncIterator[MediaCommands]:
    """The call's command channel open, as its replica opens it, and a sender (another service)."""
    async with CommandChannel(records.connection).open(run.session, run.log):
        await records.connection.flush()  # the subscription is at the server
        yield MediaCommands(records.connection, timeout_s=5.0)


def invocation(tool: str, invocation_id: str = "inv-1") -> ClientToolInvocation:
    return ClientToolInvocation(tool_name=tool, invocation_id=invocation_id, parameters={"reason": "done"})


# -- tools -----------------------------------------------------------------------------------------


async def test_hang_up_tool_plays_the_goodbye_out_then_answers_and_ends_the_call(
    records: CallRecords,
) -> None:
    padded = sample("callbridge_media_agent_frames_padded_total")
    agent = FakeAgent(RATE_HZ)
    goodbye = tone(700.0, 0.31, RATE_HZ, -6.0)  # 15 frames and a half: the half is padded and sent
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        run.provider.echo_marks = False
        assert agent.listener is not None
        await agent.listener.on_agent_audio(goodbye.tobytes())
        await agent.listener.on_agent_message(invocation("hangUp"))
        await agent.listener.on_agent_audio(tone(300.0, 0.5, RATE_HZ).tobytes())  # after hangUp: not played
        await run.provider.socket.wait_until(lambda: len(run.provider.audio_frames) == 16)
        assert agent.messages_of("client_tool_result") == []  # the caller has not heard it all yet
        for name in run.provider.marks:
            echo = run.provider.wire.mark_echo(name, cleared=False)
            assert echo is not None
            run.provider.socket.deliver(echo)
        ended = await run.ended()
    assert agent.messages_of("client_tool_result") == [
        {
            "type": "client_tool_result",
            "invocationId": "inv-1",
            "result": "call ended",
            "responseType": "hang-up",
        }
    ]
    assert (ended.end_reason, ended.detail) == (EndReason.AGENT_HANGUP, "agent invoked hangUp")
    assert len(run.provider.audio_frames) == 16
    assert sample("callbridge_media_agent_frames_padded_total") == padded + 1
    invoked = records.published.of(AgentToolInvoked)
    assert [(e.tool_name, e.invocation_id, e.handled) for e in invoked] == [("hangUp", "inv-1", True)]


async def test_a_tool_not_in_the_table_is_answered_with_an_error_and_the_call_goes_on(
    records: CallRecords,
) -> None:
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await agent.listener.on_agent_message(invocation("lookupOrder", "x"))
        result = await agent.wait_for_message("client_tool_result")
        assert not run.task.done()
    assert result == {
        "type": "client_tool_result",
        "invocationId": "x",
        "errorType": "undefined",
        "errorMessage": "tool 'lookupOrder' is not implemented by callbridge",
    }
    invoked = await records.published.wait_for(AgentToolInvoked)
    assert invoked.handled is False
    answered = await records.published.wait_for(AgentToolAnswered)
    assert (answered.invocation_id, answered.outcome) == ("x", "error")
    assert answered.detail == "tool 'lookupOrder' is not implemented by callbridge"


async def test_a_tool_registered_in_the_table_is_dispatched_to_its_handler(records: CallRecords) -> None:
    calls: list[tuple[str, dict[str, Any], bool]] = []

    class LookupOrder:
        async def invoke(self, invocation_id: str, parameters: dict[str, Any], call: CallControl) -> None:
            calls.append((invocation_id, parameters, call.started))
            await call.send_to_agent(tool_result(invocation_id, "order 42 shipped"))

    agent = FakeAgent(RATE_HZ)
    tools = {**default_tools(), "lookupOrder": LookupOrder()}
    async with running_session(records, await new_call(records), agent, tools=tools) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await agent.listener.on_agent_message(invocation("lookupOrder", "o-1"))
        result = await agent.wait_for_message("client_tool_result")
    assert calls == [("o-1", {"reason": "done"}, True)]
    assert result == {"type": "client_tool_result", "invocationId": "o-1", "result": "order 42 shipped"}
    assert (await records.published.wait_for(AgentToolInvoked)).handled is True
    answered = await records.published.wait_for(AgentToolAnswered)
    assert (answered.invocation_id, answered.outcome, answered.detail) == (
        "o-1",
        "result",
        "order 42 shipped",
    )


# -- commands --------------------------------------------------------------------------------------


async def test_hang_up_command_plays_out_what_was_sent_then_ends_as_hangup_and_is_idempotent(
    records: CallRecords,
) -> None:
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await agent.listener.on_agent_audio(tone(700.0, 0.3, RATE_HZ, -6.0).tobytes())
        async with taking_commands(records, run) as commands:
            first = await commands.send(run.session.call_id, HangUpCall())
            second = await commands.send(run.session.call_id, HangUpCall())
            await agent.listener.on_agent_audio(tone(300.0, 0.5, RATE_HZ).tobytes())  # not played any more
            ended = await run.ended()
    assert first == CommandAccepted(detail="the call ends once the agent's audio already sent has played")
    assert second == CommandAccepted(detail="the call is already ending")
    assert (ended.end_reason, ended.detail) == (EndReason.HANGUP, API_HANG_UP_DETAIL)
    assert len(run.provider.audio_frames) == 15  # the 0.3 s sent before the hang-up, and nothing after


async def test_hang_up_command_before_the_stream_starts_ends_the_call_at_once(records: CallRecords) -> None:
    agent = FakeAgent(RATE_HZ)
    async with (
        running_session(records, await new_call(records), agent) as run,
        taking_commands(records, run) as commands,
    ):
        reply = await commands.send(run.session.call_id, HangUpCall(detail="cancelled by the dialer"))
        ended = await run.ended()
    assert isinstance(reply, CommandAccepted)
    assert (ended.end_reason, ended.detail) == (EndReason.HANGUP, "cancelled by the dialer")


async def test_say_sends_a_forced_agent_message(records: CallRecords) -> None:
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        async with taking_commands(records, run) as commands:
            reply = await commands.send(run.session.call_id, SayMessage(text="Please hold.", urgency="soon"))
    assert reply == CommandAccepted(detail="sent to the agent as a forced_agent_message")
    assert agent.messages_of("forced_agent_message") == [
        {"type": "forced_agent_message", "content": "Please hold.", "urgency": "soon"}
    ]


async def test_say_while_the_caller_is_to_speak_first_gives_the_agent_the_floor(
    records: CallRecords,
) -> None:
    """An explicit ``say`` is heard: the agent no longer waits for the caller (its audio held before the
    command is dropped, what it sends for the command plays), and no fallback follows."""
    settings = FirstSpeakerSettings(
        user=UserFirstSpeaker(fallback=UserFallback(delay=timedelta(seconds=60), text="Hello?"))
    )
    agent = FakeAgent(RATE_HZ)
    async with running_session(
        records, await new_call(records, first_speaker_settings=settings), agent
    ) as run:
        run.provider.start()
        await run.started()
        assert agent.listener is not None
        await agent.listener.on_agent_audio(tone(400.0, 0.5, RATE_HZ, -10.0).tobytes())
        async with taking_commands(records, run) as commands:
            reply = await commands.send(run.session.call_id, SayMessage(text="Please hold."))
        await agent.listener.on_agent_audio(tone(700.0, 0.04, RATE_HZ, -10.0).tobytes())
        await run.provider.socket.wait_until(lambda: len(run.provider.audio_frames) == 2)
    assert isinstance(reply, CommandAccepted)
    assert agent.messages == [
        {"type": "forced_agent_message", "content": "Please hold.", "urgency": "immediate"}
    ]
    assert run.provider.audio_frames == [
        ulaw_encode(tone(700.0, 0.04, RATE_HZ, -10.0)[i : i + 160]) for i in (0, 160)
    ]


@pytest.mark.parametrize(
    ("speaks_text", "start", "hang_up_first", "reason"),
    [
        (False, True, False, RefusalReason.NOT_SUPPORTED),
        (True, False, False, RefusalReason.NOT_STARTED),
        (True, True, True, RefusalReason.ENDING),
    ],
)
async def test_say_is_refused_with_the_reason_when_it_cannot_be_said(
    records: CallRecords, speaks_text: bool, start: bool, hang_up_first: bool, reason: RefusalReason
) -> None:
    agent = FakeAgent(RATE_HZ, speaks_text=speaks_text)
    async with running_session(records, await new_call(records), agent) as run:
        if start:
            run.provider.start()
            await run.started()
        async with taking_commands(records, run) as commands:
            if hang_up_first:
                run.provider.echo_marks = False
                assert agent.listener is not None
                await agent.listener.on_agent_audio(tone(700.0, 0.3, RATE_HZ).tobytes())  # keeps it ending
                await commands.send(run.session.call_id, HangUpCall())
            reply = await commands.send(run.session.call_id, SayMessage(text="Hello"))
    assert isinstance(reply, CommandRefused)
    assert reply.reason is reason
    assert agent.messages_of("forced_agent_message") == []


@pytest.mark.parametrize(
    ("verb", "body", "detail"),
    [
        ("say", b"{not json", "invalid command"),
        ("say", b'{"command":"say","text":""}', "text"),
        ("say", b'{"command":"dial","to":"+15550001111"}', "command"),
        ("hang_up", b'{"command":"say","text":"hi"}', "is not the command's"),
    ],
)
async def test_a_request_that_is_not_a_valid_command_is_refused_and_not_acted_on(
    records: CallRecords, verb: str, body: bytes, detail: str
) -> None:
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        async with taking_commands(records, run):
            subject = subjects.media_command(run.session.call_id, verb)
            answer = await records.connection.request(subject, body, timeout=5.0)
        assert not run.task.done()
    reply = parse_reply(answer.data)
    assert isinstance(reply, CommandRefused)
    assert reply.reason is RefusalReason.INVALID
    assert detail in reply.detail
    assert agent.messages_of("forced_agent_message") == []


async def test_once_the_channel_is_closed_nobody_answers_for_the_call(records: CallRecords) -> None:
    agent = FakeAgent(RATE_HZ)
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        async with taking_commands(records, run) as commands:
            assert isinstance(
                await commands.send(run.session.call_id, SayMessage(text="hi")), CommandAccepted
            )
        with pytest.raises(CallNotHeldError):
            await commands.send(run.session.call_id, SayMessage(text="hi"))


async def test_a_transfer_given_back_tells_the_agent_why_once(records: CallRecords) -> None:
    agent = FakeAgent(RATE_HZ)
    target = "+15557654321"
    async with running_session(records, await new_call(records), agent) as run:
        run.provider.start()
        await run.started()
        async with taking_commands(records, run) as commands:
            call_id = run.session.call_id
            stray = await commands.send(call_id, TransferHandOff(phase="abort", target=target, detail="x"))
            begun = await commands.send(call_id, TransferHandOff(target=target))
            aborted = await commands.send(
                call_id, TransferHandOff(phase="abort", target=target, detail="Telnyx refused the transfer.")
            )
            again = await commands.send(call_id, TransferHandOff(phase="abort", target=target, detail="y"))
    assert isinstance(begun, CommandAccepted)
    assert all(isinstance(reply, CommandAccepted) for reply in (stray, aborted, again))
    # Only the abort of a transfer under way tells the agent (no transfer: nothing to tell).
    assert agent.messages_of("user_text_message") == [
        {
            "type": "user_text_message",
            "text": f"[The transfer to {target} failed: Telnyx refused the transfer. "
            "The caller is still on the line with you.]",
            "urgency": "immediate",
        }
    ]
