"""``playDtmfSounds`` on a live CallSession: the keys played in band through the provider's playout, heard
as keys after the provider's codec, the agent's audio held (not dropped) and its barge-in held meanwhile,
the tool answered once the marks after the last tone came back, and bad parameters answered with an error
while the call goes on."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import numpy as np
import pytest

from callbridge.common.models.conversation import SelectedTool
from callbridge.common.models.medium import Provider
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.dtmf_reader import read_keys
from callbridge.media.agents.messages import ClientToolInvocation, PlaybackClearBuffer
from callbridge.media.audio.dtmf_tones import synthesize
from callbridge.media.dtmf_tool import OutOfBandDtmfError, OutOfBandResult
from callbridge.media.tools import default_tools
from tests.e2e.provider_client import CODECS
from tests.media.fakes import FakeAgent
from tests.media.helpers import FakeClock
from tests.media.sessions import CallRecords, SessionRun, new_call, running_session

ALL_KEYS = "0123456789*#ABCD"
AGENT_RATE_HZ = 16000


def press(digits: str, invocation_id: str = "dtmf-1", **extra: Any) -> ClientToolInvocation:
    return ClientToolInvocation(
        tool_name="playDtmfSounds", invocation_id=invocation_id, parameters={"digits": digits, **extra}
    )


def dominant_hz(pcm: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.fft.rfftfreq(pcm.size, 1 / rate_hz)[int(np.argmax(spectrum))])


async def invoke(run: SessionRun, message: ClientToolInvocation | PlaybackClearBuffer) -> None:
    assert run.agent.listener is not None
    await run.agent.listener.on_agent_message(message)


async def say(run: SessionRun, pcm: np.ndarray) -> None:
    assert run.agent.listener is not None
    await run.agent.listener.on_agent_audio(pcm.astype("<i2").tobytes())


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_every_key_is_heard_after_the_providers_codec_and_the_tool_answers_once_played(
    records: CallRecords, provider: Provider
) -> None:
    clock = FakeClock()
    agent = FakeAgent(AGENT_RATE_HZ)
    async with running_session(
        records, await new_call(records), agent, provider=provider, clock=clock
    ) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press(ALL_KEYS))
        await clock.advance(2.0)
        assert agent.messages_of("client_tool_result") == []  # 4.8 s of keys: not played yet
        await clock.advance(4.0)
        result = await agent.wait_for_message("client_tool_result")
        heard = run.provider.heard()
    assert result == {"type": "client_tool_result", "invocationId": "dtmf-1", "result": f"pressed {ALL_KEYS}"}
    rate = CODECS[provider].sample_rate_hz
    assert read_keys(heard, rate) == ALL_KEYS
    assert heard.size == pytest.approx(len(ALL_KEYS) * 0.3 * rate, abs=rate * 0.1)  # 0.2 s tone, 0.1 s gap
    assert run.provider.clears == 0


async def test_durations_come_from_the_calls_parameter_overrides(records: CallRecords) -> None:
    clock = FakeClock()
    tool = SelectedTool(
        tool_name="playDtmfSounds", parameter_overrides={"toneDuration": "0.5s", "spaceDuration": "0.3s"}
    )
    call = await new_call(records, selected_tools=[tool])
    agent = FakeAgent(8000)
    async with running_session(records, call, agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        # The agent's own durations lose to the call's static ones (hidden from its model).
        await invoke(run, press("1w2", toneDuration="0.1s"))
        await clock.advance(3.0)
        await agent.wait_for_message("client_tool_result")
        heard = run.provider.heard()
    assert heard.size == round((0.8 + 0.5 + 0.8) * 8000)
    loud = np.abs(heard[: round(0.8 * 8000)].astype(np.int32)) > 1000
    first, last = np.flatnonzero(loud)[[0, -1]]
    assert (last - first) / 8000 == pytest.approx(0.5, abs=0.01)
    assert read_keys(heard, 8000) == "12"


async def test_the_agents_audio_plays_before_the_keys_and_what_it_sends_meanwhile_after_them(
    records: CallRecords,
) -> None:
    clock = FakeClock()
    rate = 8000
    agent = FakeAgent(rate)
    before = tone(400.0, 0.31, rate, -10.0)  # not whole frames: its part-frame must go before the keys
    during = tone(300.0, 0.4, rate, -10.0)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await say(run, before)
        await invoke(run, press("5"))
        await say(run, during)
        await clock.advance(0.1)
        assert run.provider.heard().size < (0.31 + 0.3) * rate  # the agent's later audio waits for the key
        await clock.advance(2.0)
        await agent.wait_for_message("client_tool_result")
        await clock.advance(1.0)
        heard = run.provider.heard()
    spans = {"before": (0, 0.30), "key": (0.33, 0.52), "after": (0.66, 1.04)}
    parts = {name: heard[round(a * rate) : round(b * rate)] for name, (a, b) in spans.items()}
    assert dominant_hz(parts["before"], rate) == pytest.approx(400.0, abs=5)
    assert read_keys(parts["key"], rate) == "5"
    assert dominant_hz(parts["after"], rate) == pytest.approx(300.0, abs=5)
    assert heard.size == pytest.approx((0.32 + 0.3 + 0.4) * rate, abs=0.02 * rate)


async def test_barge_in_while_the_keys_play_does_not_cut_them(records: CallRecords) -> None:
    """The callee talks over the keys and the agent says to clear: the keys play on, whole (a tone cut
    short is a different key, or none), and the tool is answered when they have played."""
    clock = FakeClock()
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press("123"))
        await clock.advance(0.35)
        await invoke(run, PlaybackClearBuffer())
        await say(run, tone(300.0, 0.2, 8000, -10.0))  # the agent's next turn: after the keys
        await clock.advance(2.0)
        await agent.wait_for_message("client_tool_result")
        await clock.advance(1.0)
        heard = run.provider.heard()
    assert run.provider.clears == 0
    assert read_keys(heard, 8000) == "123"
    assert dominant_hz(heard[round(0.92 * 8000) :], 8000) == pytest.approx(300.0, abs=5)


async def test_the_agents_barge_in_after_the_keys_works_again(records: CallRecords) -> None:
    clock = FakeClock()
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press("9"))
        await clock.advance(1.0)
        await agent.wait_for_message("client_tool_result")
        await say(run, tone(300.0, 2.0, 8000, -10.0))
        await clock.advance(0.2)
        await invoke(run, PlaybackClearBuffer())
        await clock.advance(0.5)
        clears = run.provider.clears
    assert clears == 1


async def test_the_tool_is_answered_only_once_the_provider_echoes_the_marks(records: CallRecords) -> None:
    clock = FakeClock()
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        run.provider.echo_marks = False
        await invoke(run, press("7"))
        await clock.advance(1.0)
        assert len(run.provider.audio_frames) == 15  # 0.3 s sent
        assert agent.messages_of("client_tool_result") == []
        for name in run.provider.marks:
            echo = run.provider.wire.mark_echo(name, cleared=False)
            assert echo is not None
            run.provider.socket.deliver(echo)
        result = await agent.wait_for_message("client_tool_result")
    assert result["result"] == "pressed 7"


@pytest.mark.parametrize(
    ("parameters", "overrides", "error"),
    [
        ({}, {}, "digits is required"),
        ({"digits": 5}, {}, "digits is required"),
        ({"digits": "12x"}, {}, "'x' is not a DTMF digit"),
        ({"digits": "wW"}, {}, "only pauses"),
        ({"digits": "1" * 65}, {}, "at most 64"),
        ({"digits": "1"}, {"toneDuration": "abc"}, "toneDuration: invalid duration 'abc'"),
        ({"digits": "1"}, {"toneDuration": 0.2}, "toneDuration must be a duration string"),
        ({"digits": "1"}, {"spaceDuration": "0.01s"}, "spaceDuration '0.01s' is out of range"),
        ({"digits": "1"}, {"toneDuration": "-1s"}, "toneDuration '-1s' is out of range"),
        ({"digits": "0" * 30}, {"toneDuration": "2s", "spaceDuration": "1s"}, "at most 60 s"),
    ],
)
async def test_bad_parameters_are_answered_with_an_error_and_the_call_goes_on(
    records: CallRecords, parameters: dict[str, Any], overrides: dict[str, Any], error: str
) -> None:
    tools = [SelectedTool(tool_name="playDtmfSounds", parameter_overrides=overrides)]
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records, selected_tools=tools), agent) as run:
        run.provider.start()
        await run.started()
        await invoke(
            run, ClientToolInvocation(tool_name="playDtmfSounds", invocation_id="bad", parameters=parameters)
        )
        result = await agent.wait_for_message("client_tool_result")
        assert not run.task.done()
    assert result["invocationId"] == "bad"
    assert result["errorMessage"].startswith("playDtmfSounds: ")
    assert error in result["errorMessage"]
    assert run.provider.audio_frames == []


def test_the_synthesised_keys_read_back_with_the_independent_reader() -> None:
    """The test's reader itself: it reads the keys, and not the agent's tones."""
    assert read_keys(synthesize(ALL_KEYS, 8000), 8000) == ALL_KEYS
    assert read_keys(tone(697.0, 1.0, 8000, -6.0), 8000) == ""


class OutOfBand:
    """An OutOfBandDtmf as the transfer service's command would answer it: sent, not on this call, or
    refused by the provider."""

    def __init__(self, answer: OutOfBandResult | str) -> None:
        self.answer = answer
        self.sent: list[tuple[str, float, float, str | None]] = []

    async def send_dtmf(
        self, call_id: UUID, digits: str, *, tone_s: float, space_s: float, invocation_id: str | None = None
    ) -> OutOfBandResult:
        self.sent.append((digits, tone_s, space_s, invocation_id))
        if isinstance(self.answer, str):
            raise OutOfBandDtmfError(self.answer)
        return self.answer


REFUSED = "Telnyx refused them out of band: call not in a state to send DTMF"


@pytest.mark.parametrize(
    ("answer", "expected", "in_band"),
    [
        (OutOfBandResult(sent=True), {"result": "pressed 12"}, ""),
        (OutOfBandResult(sent=False), {"result": "pressed 12"}, "12"),
        (
            OutOfBandResult(sent=False, in_band_because=REFUSED),
            {"result": f"pressed 12 (in band: {REFUSED})"},
            "12",
        ),
        ("no such key on a phone", {"errorMessage": "playDtmfSounds: no such key on a phone"}, ""),
    ],
)
async def test_out_of_band_when_the_call_allows_it_else_in_band(
    records: CallRecords, answer: OutOfBandResult | str, expected: dict[str, str], in_band: str
) -> None:
    clock = FakeClock()
    out_of_band = OutOfBand(answer)
    tools = default_tools(out_of_band_dtmf=out_of_band)
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, tools=tools, clock=clock) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press("12"))
        await clock.advance(1.0)
        result = await agent.wait_for_message("client_tool_result")
        heard = run.provider.heard()
    assert out_of_band.sent == [("12", 0.2, 0.1, "dtmf-1")]
    key, value = next(iter(expected.items()))
    assert result[key] == value
    assert read_keys(heard, 8000) == in_band


async def test_two_presses_in_a_row_play_one_after_the_other(records: CallRecords) -> None:
    clock = FakeClock()
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press("12", "first"))
        await invoke(run, press("#", "second"))
        await say(run, tone(300.0, 0.2, 8000, -10.0))  # after both
        # The second press starts once the first has played: time moves on until both are answered.
        for _ in range(10):
            await clock.advance(0.5)
            if len(agent.messages_of("client_tool_result")) == 2:
                break
        await clock.advance(1.0)
        results = [message["invocationId"] for message in agent.messages_of("client_tool_result")]
        heard = run.provider.heard()
    assert results == ["first", "second"]
    assert read_keys(heard, 8000) == "12#"
    assert dominant_hz(heard[round(0.9 * 8000) :], 8000) == pytest.approx(300.0, abs=5)


async def test_the_keys_echoed_back_by_the_line_are_not_taken_as_the_callers(records: CallRecords) -> None:
    """A phone line echoes what it plays: our keys coming back in the caller's audio, while they play or
    just after, are not the caller pressing them; the caller's own key afterwards is."""
    clock = FakeClock()
    agent = FakeAgent(8000)
    async with running_session(records, await new_call(records), agent, clock=clock) as run:
        run.provider.start()
        await run.started()
        await invoke(run, press("123"))
        # The line's echo of the keys comes back while they play (about -10 dB).
        echo = (synthesize("123", 8000).astype(np.float64) * 0.3).astype(np.int16)
        run.provider.send_audio(np.concatenate([echo, np.zeros(1600, dtype=np.int16)]))
        await agent.wait_for_audio(echo.size * 2)  # the session has read the echo (at this instant)
        await clock.advance(1.5)
        await agent.wait_for_message("client_tool_result")
        await clock.advance(1.0)
        run.provider.send_audio(np.concatenate([synthesize("9", 8000), np.zeros(1600, dtype=np.int16)]))
        message = await agent.wait_for_message("user_text_message")
    assert message["text"] == "9"
