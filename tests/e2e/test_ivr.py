"""The agent navigates a phone menu by DTMF on each provider: an outbound call placed by the whole stack to a
simulated IVR ("press 1 for sales": a prompt tone), the agent invokes ``playDtmfSounds`` with ``1``, and the
IVR answers with the sales option's reply, which the agent hears. Out of band where the provider offers it
(Telnyx, Plivo: media asks the transfer service, which sends the keys through the provider's REST API, and
no tone is heard in the audio), in band elsewhere (Twilio, Exotel: the tones in the call's audio, which the
IVR recognises). When the provider refuses the keys, or no credentials are imported, they play in band."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from callbridge.common.events import AgentToolInvoked, CallEnded, CallJoined, DtmfSent
from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.phone_menu import DEFAULT_REPLIES_HZ
from callbridge.devkit.simulators.rest import CalleeScript, Outcome, SimulatedRestApi
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.simulators.rest.outbound import OutboundCall
from callbridge.devkit.stack import RunningStack
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import events_of
from tests.e2e.outbound import place_call, stack_dialing

PROMPT_HZ = 440.0
IVR = CalleeScript.parse([f"*=phone_menu(ring_s=0.2, tone_hz={PROMPT_HZ:g}, speech_s=1, hold_s=3.5)"])
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {},
    Provider.TELNYX: {"codec": "L16", "sampleRate": 16000},
    Provider.PLIVO: {"codec": "L16", "sampleRate": 16000},
    Provider.EXOTEL: {"sampleRate": 16000},
}
OUT_OF_BAND = {Provider.TELNYX, Provider.PLIVO}
AGENT_RATE_HZ = 16000
BYTES_PER_S = AGENT_RATE_HZ * 2
CALL_TIMEOUT_S = 30.0


def dominant_hz(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / AGENT_RATE_HZ)[int(np.argmax(spectrum))])


async def navigate_menu(
    provider: Provider,
    nats_url: str,
    *,
    before_pressing: Callable[[RunningStack, OutboundCall], Any] | None = None,
) -> tuple[dict[str, Any], OutboundCall, list[Any]]:
    """Place a call to the IVR whose agent presses 1 once the prompt has played; what the agent heard (the
    prompt, the tool's result, the reply), the simulated call, and the call's events."""
    heard: dict[str, Any] = {}
    account: SimulatedRestApi = new_account(provider, script=IVR, allow_insecure_ws=True)
    running: dict[str, RunningStack] = {}

    async def navigate(peer: AgentPeer) -> None:
        await peer.wait_for_audio(int(0.6 * BYTES_PER_S), timeout_s=CALL_TIMEOUT_S)  # the prompt plays
        heard["prompt"] = bytes(peer.audio_in[int(0.2 * BYTES_PER_S) : int(0.6 * BYTES_PER_S)])
        if before_pressing is not None:
            (placed,) = account.outbound.calls.values()
            await before_pressing(running["stack"], placed)
        await peer.send_message(
            {
                "type": "client_tool_invocation",
                "toolName": "playDtmfSounds",
                "invocationId": "menu-1",
                "parameters": {"digits": "1"},
            }
        )
        heard["result"] = await peer.wait_for_message("client_tool_result", timeout_s=CALL_TIMEOUT_S)
        answered_at = len(peer.audio_in)
        await peer.wait_for_audio(answered_at + int(0.8 * BYTES_PER_S), timeout_s=CALL_TIMEOUT_S)
        heard["reply"] = bytes(
            peer.audio_in[answered_at + int(0.1 * BYTES_PER_S) :][: int(0.7 * BYTES_PER_S)]
        )

    async with agent_server(navigate) as (agent_url, _), stack_dialing(nats_url, provider, account) as stack:
        running["stack"] = stack
        medium = {**MEDIUM[provider], "outgoing": {"to": "+15550001111", "from": "+15550002222"}}
        response = await place_call(
            stack,
            {
                "medium": {provider.value: medium},
                "agentBackend": {"websocket": {"url": agent_url, "inputSampleRate": AGENT_RATE_HZ}},
                "selectedTools": [{"toolName": "playDtmfSounds"}],
            },
        )
        assert response.status_code == 201, response.text
        call_id = response.json()["callId"]
        await events_of(nats_url, call_id, until=CallJoined, timeout_s=CALL_TIMEOUT_S)
        (placed,) = account.outbound.calls.values()
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await placed.ended.wait()
        events = await events_of(nats_url, call_id, timeout_s=CALL_TIMEOUT_S)
    return heard, placed, events


def assert_menu_answered_sales(heard: dict[str, Any], placed: OutboundCall, events: list[Any]) -> None:
    assert (placed.outcome, placed.error) == (Outcome.COMPLETED, None)
    assert placed.recording is not None
    assert placed.recording.violations == []
    assert dominant_hz(heard["prompt"]) == pytest.approx(PROMPT_HZ, abs=10)
    assert dominant_hz(heard["reply"]) == pytest.approx(DEFAULT_REPLIES_HZ["1"], abs=10)  # sales
    tools = [event for event in events if isinstance(event, AgentToolInvoked)]
    assert [(event.tool_name, event.handled) for event in tools] == [("playDtmfSounds", True)]
    assert isinstance(events[-1], CallEnded)


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_the_agent_presses_1_in_the_phone_menu_and_the_menu_answers_with_sales(
    clean_jetstream: None, nats_url: str, provider: Provider
) -> None:
    heard, placed, events = await navigate_menu(provider, nats_url)
    assert_menu_answered_sales(heard, placed, events)
    assert placed.recording is not None
    sent = [event for event in events if isinstance(event, DtmfSent)]
    assert heard["result"] == {"type": "client_tool_result", "invocationId": "menu-1", "result": "pressed 1"}
    if provider in OUT_OF_BAND:
        assert placed.line.dtmf_sent == ["1"]  # through the provider's REST API
        assert placed.recording.dtmf_heard == []  # and no tone in the audio
        assert [(event.outcome, event.origin, event.digits) for event in sent] == [("sent", "agent", "1")]
    else:
        assert placed.line.dtmf_sent == []
        assert [key for _, key in placed.recording.dtmf_heard] == ["1"]  # the menu heard the key, once
        assert sent == []


@pytest.mark.parametrize("provider", sorted(OUT_OF_BAND), ids=[p.value for p in sorted(OUT_OF_BAND)])
async def test_keys_the_provider_refuses_out_of_band_play_in_band(
    clean_jetstream: None, nats_url: str, provider: Provider
) -> None:
    async def refuse(_: RunningStack, placed: OutboundCall) -> None:
        placed.line.refuse_dtmf = "the call cannot take DTMF now"

    heard, placed, events = await navigate_menu(provider, nats_url, before_pressing=refuse)
    assert_menu_answered_sales(heard, placed, events)
    assert placed.recording is not None
    assert placed.line.dtmf_sent == []
    assert [key for _, key in placed.recording.dtmf_heard] == ["1"]  # in band after all
    (failed,) = [event for event in events if isinstance(event, DtmfSent)]
    assert failed.outcome == "failed"
    assert "the call cannot take DTMF now" in (failed.detail or "")
    result = heard["result"]["result"]
    assert result.startswith("pressed 1 (in band: ")
    assert "the call cannot take DTMF now" in result


async def test_keys_play_in_band_without_imported_credentials(clean_jetstream: None, nats_url: str) -> None:
    provider = Provider.PLIVO

    async def forget_credentials(stack: RunningStack, _: OutboundCall) -> None:
        async with httpx.AsyncClient(
            base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}
        ) as api:
            assert (await api.delete("/api/telephony_configs/plivo")).status_code == 204

    heard, placed, events = await navigate_menu(provider, nats_url, before_pressing=forget_credentials)
    assert_menu_answered_sales(heard, placed, events)
    assert placed.recording is not None
    assert placed.line.dtmf_sent == []
    assert [key for _, key in placed.recording.dtmf_heard] == ["1"]
    assert not any(isinstance(event, DtmfSent) for event in events)  # the transfer service was not asked
    assert heard["result"]["result"] == "pressed 1"
