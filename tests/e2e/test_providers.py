"""Every provider end to end: a simulated call through webhooks (signed, in the provider's own format) and
media (the provider's wire protocol, its best audio format) to an agent, measured from the caller's side."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from callbridge.common.events import (
    CallEnded,
    CallJoined,
    DtmfReceived,
    MediaFormatNotice,
    MediaFramesRejected,
    PlayoutTruncated,
    ProviderStreamError,
)
from callbridge.common.models.medium import Provider
from callbridge.devkit.provision import provision_simulated_agent
from callbridge.devkit.signals import delay_samples, sinad_db, tone
from callbridge.devkit.simulators.audio_codec import ByteOrder
from callbridge.devkit.simulators.errors import WebhookRejectedError
from callbridge.devkit.simulators.telnyx import TelnyxStreamError
from callbridge.devkit.stack import RunningStack
from callbridge.media.audio.resampler import create_resampler
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import audio_sent_back, events_of, get_call, heard_span_s

TONE_HZ = 1000.0
PROVIDERS = list(Provider)
# The best format each provider offers, which callbridge's XML asks for by default.
BEST_FORMAT = {
    Provider.TWILIO: "pcmu/8000",
    Provider.TELNYX: "l16/16000",
    Provider.PLIVO: "l16/16000",
    Provider.EXOTEL: "l16/16000",
}
# μ-law twice (caller -> agent -> caller) bounds Twilio; 16-bit PCM at the agent's rate is bit-exact.
HEARD_DELAY_SLACK_S = 0.25
AGENT_RATE_HZ = 16000
MIN_SINAD_DB = {Provider.TWILIO: 30.0, Provider.TELNYX: 70.0, Provider.PLIVO: 70.0, Provider.EXOTEL: 70.0}


async def simulated(stack: RunningStack, provider: Provider, template: dict[str, Any]) -> tuple[Any, str]:
    return await provision_simulated_agent(
        stack.webhooks_url, stack.api_key, stack.public_base_url, provider, call_template=template
    )


def call_id_of(answer: Any) -> str:
    """The call id, from the join URL the provider was told to open (``…/calls/<id>/telephony/…``)."""
    return str(answer.stream_url.split("/calls/")[1].split("/")[0])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_echo_call_at_the_providers_best_format(
    stack: RunningStack, nats_url: str, provider: Provider
) -> None:
    template = {"agentBackend": {"echo": {"sampleRate": AGENT_RATE_HZ}}}
    simulator, agent_id = await simulated(stack, provider, template)
    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
    rate = simulator.inbound_codec(answer).sample_rate_hz
    signal = tone(TONE_HZ, 2.0, rate, -10.0)
    recording = await simulator.stream(answer, signal, tail_s=0.4)
    assert recording.ended_by == "simulator"
    assert recording.violations == []
    assert recording.heard is not None
    # What the caller heard arrives within a frame and the carrier's playout tick: a sanity bound only,
    # wide enough for a loaded machine (the benchmark holds the real latency targets).
    delay = delay_samples(recording.sent_audio, recording.heard)
    frame_s = recording.frame_s if provider is not Provider.EXOTEL else 0.2
    assert 0 < delay / rate < frame_s + HEARD_DELAY_SLACK_S, f"round trip {delay / rate * 1000:.1f} ms"
    margin = rate // 10
    byte_order: ByteOrder = "big" if provider is Provider.TELNYX else "little"  # the simulators' defaults
    echoed = audio_sent_back(recording, byte_order=byte_order)
    # What media itself adds, frame for frame (no timing): the resamplers' delay where the provider's rate
    # is not the agent's, plus whole frames where a provider's chunk is longer than a caller frame (Exotel).
    media_ms = delay_samples(recording.sent_audio, echoed) / rate * 1000
    resampling_ms = (
        0.0
        if rate == AGENT_RATE_HZ
        else create_resampler(rate, AGENT_RATE_HZ).delay_ms + create_resampler(AGENT_RATE_HZ, rate).delay_ms
    )
    off_ms = (media_ms - resampling_ms) % 20
    assert min(off_ms, 20 - off_ms) <= 0.25, f"media path adds {media_ms:.2f} ms"
    sent_back = echoed[margin : len(signal) - margin]
    assert sinad_db(sent_back, TONE_HZ, rate) >= MIN_SINAD_DB[provider]
    call_id = call_id_of(answer)
    events = await events_of(nats_url, call_id)
    joined = next(e for e in events if isinstance(e, CallJoined))
    assert joined.provider_details is not None
    assert joined.provider_details.media_format == BEST_FORMAT[provider]
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    record = await get_call(stack, call_id)
    assert record["agentId"] == agent_id
    assert provider.value in record["medium"]
    assert record["providerDetails"]["provider"] == provider.value


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_dtmf_reaches_the_agent(stack: RunningStack, nats_url: str, provider: Provider) -> None:
    async with agent_server(echo=True) as (agent_url, peers):
        simulator, _ = await simulated(stack, provider, {"agentBackend": {"websocket": {"url": agent_url}}})
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        rate = simulator.inbound_codec(answer).sample_rate_hz
        await simulator.stream(
            answer, tone(TONE_HZ, 1.5, rate, -20.0), dtmf=[(0.3, "4"), (0.4, "2")], tail_s=0.2
        )
    texts = [m for m in peers[0].messages if m["type"] == "user_text_message"]
    assert texts == [{"type": "user_text_message", "text": "42", "urgency": "immediate"}]
    events = await events_of(nats_url, call_id_of(answer))
    assert [e.digit for e in events if isinstance(e, DtmfReceived)] == ["4", "2"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_barge_in_clears_the_provider_and_reports_what_was_heard(
    stack: RunningStack, nats_url: str, provider: Provider
) -> None:
    speech = tone(500.0, 3.0, 16000, -6.0).tobytes()

    async def talk_then_get_interrupted(peer: AgentPeer) -> None:
        await peer.send_audio(speech)
        await asyncio.sleep(0.8)
        await peer.send_message({"type": "playback_clear_buffer"})

    async with agent_server(talk_then_get_interrupted) as (agent_url, _):
        simulator, _ = await simulated(stack, provider, {"agentBackend": {"websocket": {"url": agent_url}}})
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        rate = simulator.inbound_codec(answer).sample_rate_hz
        recording = await simulator.stream(answer, tone(TONE_HZ, 2.0, rate, -40.0), tail_s=0.2)
    assert recording.violations == []
    assert len(recording.clears_at_s) == 1
    clear_at = recording.clears_at_s[0]
    # Within one frame of the clear, nothing more of the interrupted turn arrives.
    assert not [t for t in recording.outbound_media_at_s if t > clear_at + 0.001]
    assert recording.heard is not None
    heard_s = heard_span_s(recording.heard, recording.heard_rate_hz)
    assert 0.6 <= heard_s <= 1.0, heard_s
    events = await events_of(nats_url, call_id_of(answer))
    (truncated,) = [e for e in events if isinstance(e, PlayoutTruncated)]
    assert truncated.dropped_frames > 0
    frame_ms = round(recording.frame_s * 1000) if provider is not Provider.EXOTEL else 200
    assert abs(truncated.heard_ms - heard_s * 1000) <= max(60, frame_ms)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_agent_hang_up_after_the_goodbye(
    stack: RunningStack, nats_url: str, provider: Provider
) -> None:
    goodbye = tone(700.0, 0.7, 16000, -6.0).tobytes()

    async def say_goodbye_and_hang_up(peer: AgentPeer) -> None:
        await peer.wait_for_audio()  # the call is live: the caller's audio reaches the agent
        await peer.send_audio(goodbye)
        await peer.send_message(
            {"type": "client_tool_invocation", "toolName": "hangUp", "invocationId": "bye"}
        )

    async with agent_server(say_goodbye_and_hang_up) as (agent_url, peers):
        simulator, _ = await simulated(stack, provider, {"agentBackend": {"websocket": {"url": agent_url}}})
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        rate = simulator.inbound_codec(answer).sample_rate_hz
        recording = await simulator.stream(answer, tone(TONE_HZ, 5.0, rate, -40.0), tail_s=0.0)
        await peers[0].wait_for_message("client_tool_result")
    assert recording.ended_by == "server"
    assert recording.heard is not None
    assert heard_span_s(recording.heard, recording.heard_rate_hz) >= 0.69
    events = await events_of(nats_url, call_id_of(answer))
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "agent_hangup"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_caller_hang_up(stack: RunningStack, nats_url: str, provider: Provider) -> None:
    simulator, _ = await simulated(stack, provider, {"agentBackend": {"echo": {}}})
    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
    rate = simulator.inbound_codec(answer).sample_rate_hz
    recording = await simulator.stream(answer, tone(TONE_HZ, 5.0, rate, -20.0), hang_up_after_s=0.5)
    assert recording.ended_by == "simulator"
    events = await events_of(nats_url, call_id_of(answer))
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"


@pytest.mark.parametrize("provider", [Provider.TELNYX, Provider.PLIVO, Provider.EXOTEL])
async def test_webhooks_with_the_wrong_credentials_are_refused(
    stack: RunningStack, provider: Provider
) -> None:
    real, _ = await simulated(stack, provider, {"agentBackend": {"echo": {}}})
    other, _ = await simulated(stack, provider, {"agentBackend": {"echo": {}}})
    # `other` signs with credentials that replaced the first import; the first simulator's are now wrong.
    with pytest.raises(WebhookRejectedError) as refused:
        await real.incoming_call(from_number="+15550001111", to_number="+15550002222")
    assert refused.value.status_code == 403
    await other.incoming_call(from_number="+15550001111", to_number="+15550002222")


async def _echo_sinad(stack: RunningStack, provider: Provider, **options: Any) -> tuple[float, Any, Any]:
    """Place an echo call with simulator ``options``; the SINAD of what the caller heard, and the call."""
    simulator, _ = await provision_simulated_agent(
        stack.webhooks_url,
        stack.api_key,
        stack.public_base_url,
        provider,
        call_template={"agentBackend": {"echo": {"sampleRate": 16000}}},
        **options,
    )
    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
    rate = simulator.inbound_codec(answer).sample_rate_hz
    signal = tone(TONE_HZ, 1.5, rate, -10.0)
    recording = await simulator.stream(answer, signal, tail_s=0.4)
    byte_order: ByteOrder = options.get("l16_byte_order", "big" if provider is Provider.TELNYX else "little")
    sent_back = audio_sent_back(recording, byte_order=byte_order)[rate // 10 : len(signal) - rate // 10]
    return sinad_db(sent_back, TONE_HZ, rate), answer, recording


async def test_telnyx_l16_in_the_other_byte_order_is_detected_and_corrected(
    stack: RunningStack, nats_url: str
) -> None:
    # Media assumes big-endian (RFC 3551); this simulated Telnyx sends and expects little-endian.
    sinad, answer, recording = await _echo_sinad(stack, Provider.TELNYX, l16_byte_order="little")
    assert recording.violations == []
    assert sinad >= 60.0, f"{sinad:.1f} dB: the byte order was not corrected"
    events = await events_of(nats_url, call_id_of(answer))
    (notice,) = [e for e in events if isinstance(e, MediaFormatNotice)]
    assert "little-endian" in notice.detail


async def test_telnyx_l16_in_the_configured_byte_order_raises_no_notice(
    stack: RunningStack, nats_url: str
) -> None:
    sinad, answer, _ = await _echo_sinad(stack, Provider.TELNYX, l16_byte_order="big")
    assert sinad >= 60.0
    events = await events_of(nats_url, call_id_of(answer))
    assert not [e for e in events if isinstance(e, MediaFormatNotice)]


async def test_telnyx_frames_out_of_order_are_put_back_in_order(stack: RunningStack) -> None:
    async with agent_server() as (agent_url, peers):
        simulator, _ = await provision_simulated_agent(
            stack.webhooks_url,
            stack.api_key,
            stack.public_base_url,
            Provider.TELNYX,
            call_template={"agentBackend": {"websocket": {"url": agent_url, "inputSampleRate": 16000}}},
            reorder_probability=0.3,
            reorder_max_displacement=2,
            reorder_seed=7,
        )
        answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
        recording = await simulator.stream(answer, tone(TONE_HZ, 1.5, 16000, -10.0), tail_s=0.2)
    assert recording.inbound_send_order != sorted(recording.inbound_send_order)  # really sent out of order
    # What the agent received is the caller's audio in order: L16 at 16 kHz both sides, so bit-exact.
    received = np.frombuffer(bytes(peers[0].audio_in), dtype="<i2")[1600 : 1600 + 16000]
    sinad = sinad_db(received, TONE_HZ, 16000)
    assert sinad >= 80.0, f"{sinad:.1f} dB: frames reached the agent out of order or with gaps"


async def test_telnyx_error_frames_become_call_events(stack: RunningStack, nats_url: str) -> None:
    error = TelnyxStreamError(
        code=100003, title="malformed_frame", detail="Received frame was not formed correctly"
    )
    _, answer, recording = await _echo_sinad(stack, Provider.TELNYX, error_frames=[(0.3, error)])
    assert recording.ended_by == "simulator"  # the call went on
    events = await events_of(nats_url, call_id_of(answer))
    (reported,) = [e for e in events if isinstance(e, ProviderStreamError)]
    assert (reported.code, reported.title) == ("100003", "malformed_frame")


async def test_plivo_played_event_under_its_faq_name_is_accepted(stack: RunningStack, nats_url: str) -> None:
    sinad, answer, recording = await _echo_sinad(stack, Provider.PLIVO, played_event="played")
    assert sinad >= 60.0
    played = [m for m in recording.marks if m.echoed_at_s is not None]
    assert len(played) >= 0.9 * len(recording.marks)
    # The simulator answers every checkpoint whatever media makes of it: what shows that media accepted
    # the answers is that none of them was rejected.
    events = await events_of(nats_url, call_id_of(answer))
    assert not [e for e in events if isinstance(e, MediaFramesRejected)]
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.rejected_frames == 0


async def test_exotel_lenient_start_variants(stack: RunningStack) -> None:
    sinad, _, recording = await _echo_sinad(
        stack, Provider.EXOTEL, sample_rate_format="hz", stream_sid_placement="start", inbound_frame_ms=100
    )
    assert recording.violations == []
    assert sinad >= 60.0
