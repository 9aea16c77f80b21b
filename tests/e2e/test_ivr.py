"""The agent navigates a phone menu by DTMF on each provider: an outbound call through the API to a simulated
IVR ("press 1 for sales": a prompt tone), the agent invokes ``playDtmfSounds`` with ``1``, media plays the
keys in band through the provider's stream, the IVR recognises the key in what it hears and answers with the
sales option's reply, which the agent hears. In band on all four providers for now (out of band on Telnyx
and Plivo is the transfer service's, through dtmf_tool.OutOfBandDtmf)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import numpy as np
import pytest

from callbridge.common.events import AgentToolInvoked, CallEnded
from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.simulators.phone_menu import DEFAULT_REPLIES_HZ
from callbridge.devkit.simulators.rest import CalleeScript, Outcome
from callbridge.devkit.simulators.rest.accounts import new_account
from callbridge.devkit.stack import RunningStack
from callbridge.telephony import DialRequest, provider_for
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import SECRET_KEY, create_call, events_of
from tests.e2e.outbound import (
    client_settings,
    import_account,
    plivo_answer_server,
    status_callback_url,
    stored_config,
)

PROMPT_HZ = 440.0
IVR = CalleeScript.parse([f"*=phone_menu(ring_s=0.2, tone_hz={PROMPT_HZ:g}, speech_s=1, hold_s=3.5)"])
MEDIUM: dict[Provider, dict[str, Any]] = {
    Provider.TWILIO: {"twilio": {}},
    Provider.TELNYX: {"telnyx": {"codec": "L16", "sampleRate": 16000}},
    Provider.PLIVO: {"plivo": {"codec": "L16", "sampleRate": 16000}},
    Provider.EXOTEL: {"exotel": {"sampleRate": 16000}},
}
AGENT_RATE_HZ = 16000
BYTES_PER_S = AGENT_RATE_HZ * 2
CALL_TIMEOUT_S = 30.0


def dominant_hz(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / AGENT_RATE_HZ)[int(np.argmax(spectrum))])


@pytest.mark.parametrize("provider", list(Provider), ids=[p.value for p in Provider])
async def test_the_agent_presses_1_in_the_phone_menu_and_the_menu_answers_with_sales(
    stack: RunningStack, nats_url: str, provider: Provider
) -> None:
    heard: dict[str, Any] = {}

    async def navigate(peer: AgentPeer) -> None:
        await peer.wait_for_audio(int(0.6 * BYTES_PER_S), timeout_s=CALL_TIMEOUT_S)  # the prompt plays
        heard["prompt"] = bytes(peer.audio_in[int(0.2 * BYTES_PER_S) : int(0.6 * BYTES_PER_S)])
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

    account = new_account(provider, script=IVR, allow_insecure_ws=True)
    box = SecretBox(SECRET_KEY)
    config = stored_config(account, provider, box)
    async with agent_server(navigate) as (agent_url, _), account.serve() as api_url:
        await import_account(stack, provider, account)
        created = await create_call(
            stack,
            {
                "medium": MEDIUM[provider],
                "agentBackend": {"websocket": {"url": agent_url, "inputSampleRate": AGENT_RATE_HZ}},
                "selectedTools": [{"toolName": "playDtmfSounds"}],
            },
        )
        call_id, join_url = created["callId"], created["joinUrl"]
        status_url = status_callback_url(stack, call_id, provider, account)
        async with (
            plivo_answer_server(config, MEDIUM[provider], call_id, join_url, status_url) as answer_url,
            provider_for(provider).rest_client(
                config, box.decrypt, client_settings(provider, api_url)
            ) as client,
        ):
            await client.dial(
                DialRequest(
                    call_id=UUID(call_id),
                    to="+15550001111",
                    from_="+15550002222",
                    join_url=join_url,
                    status_callback_url=status_url,
                    answer_url=answer_url,
                    codec="L16" if provider is Provider.TELNYX else None,
                    sample_rate_hz=16000 if provider is not Provider.TWILIO else None,
                )
            )
            (call,) = account.outbound.calls.values()
            async with asyncio.timeout(CALL_TIMEOUT_S):
                await call.ended.wait()
    assert (call.outcome, call.error) == (Outcome.COMPLETED, None)
    recording = call.recording
    assert recording is not None
    assert recording.violations == []
    assert [key for _, key in recording.dtmf_heard] == ["1"]  # the menu heard the key, once
    assert heard["result"] == {"type": "client_tool_result", "invocationId": "menu-1", "result": "pressed 1"}
    assert dominant_hz(heard["prompt"]) == pytest.approx(PROMPT_HZ, abs=10)
    assert dominant_hz(heard["reply"]) == pytest.approx(DEFAULT_REPLIES_HZ["1"], abs=10)  # sales
    events = await events_of(nats_url, call_id)
    tools = [event for event in events if isinstance(event, AgentToolInvoked)]
    assert [(event.tool_name, event.handled) for event in tools] == [("playDtmfSounds", True)]
    assert isinstance(events[-1], CallEnded)
