"""A simulated inbound Twilio call through webhooks and media to an agent, measured from the caller's side."""

from __future__ import annotations

import asyncio
import base64
import statistics

import httpx
import numpy as np
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callbridge.common.events import (
    CallCreated,
    CallEnded,
    CallJoined,
    DtmfReceived,
    MediaFramesRejected,
    PlayoutTruncated,
)
from callbridge.devkit.signals import delay_samples, sinad_db, tone
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.simulators.twiml import TwiMLAnswer
from callbridge.devkit.stack import RunningStack
from callbridge.media.audio.g711 import ulaw_decode, ulaw_encode
from callbridge.media.audio.resampler import create_resampler
from tests.e2e.agent_server import AgentPeer, agent_server
from tests.e2e.helpers import audio_sent_back, events_of, get_call, heard_span_s, twilio_for

RATE_HZ = 8000
FRAME_SAMPLES = 160
TONE_HZ = 1000.0


async def test_echo_call_returns_the_callers_audio_with_low_delay_and_full_quality(
    stack: RunningStack, nats_url: str
) -> None:
    simulator, provisioned = await twilio_for(stack, {"agentBackend": {"echo": {"sampleRate": 16000}}})
    signal = tone(TONE_HZ, 2.0, RATE_HZ, -10.0)
    call = await simulator.place_call(signal, tail_s=0.3)
    recording = call.recording
    call_id = call.answer.parameters["callId"]

    assert recording.ended_by == "simulator"
    assert recording.violations == []
    assert recording.heard is not None
    # What the caller heard: the media path plus the simulated carrier's playout, which starts audio
    # reaching an empty buffer on its next 20 ms tick (one or two ticks, by the arrival's jitter).
    delay = delay_samples(recording.sent_audio, recording.heard)
    # A sanity bound only, wide enough for a loaded machine (the benchmark holds the latency targets).
    assert 0 < delay < 0.250 * RATE_HZ, f"round-trip delay {delay / RATE_HZ * 1000:.1f} ms"
    # What media adds, sample for sample: the audio it sent back against the audio it was sent (frames map
    # one to one, so no timing enters; the heard track's alignment shifts with a loaded machine's jitter).
    echoed = audio_sent_back(recording)
    media_delay_ms = delay_samples(recording.sent_audio, echoed) / RATE_HZ * 1000
    expected_ms = create_resampler(8000, 16000).delay_ms + create_resampler(16000, 8000).delay_ms
    assert expected_ms <= 6.0
    assert abs(media_delay_ms - expected_ms) <= 0.25, f"media path adds {media_delay_ms:.2f} ms"
    sent_back = echoed[800 : len(signal) - 800]
    measured = sinad_db(sent_back, TONE_HZ, RATE_HZ)
    # The best a μ-law carrier allows: the same tone through two μ-law passes with no resampling at all.
    reference = sinad_db(
        ulaw_decode(ulaw_encode(ulaw_decode(ulaw_encode(signal))))[800:-800], TONE_HZ, RATE_HZ
    )
    assert measured > reference - 3.0, f"SINAD {measured:.1f} dB vs μ-law-only {reference:.1f} dB"
    # Every frame sent back was followed by a mark, and every mark came back as played.
    assert len(recording.marks) == len(recording.outbound_media_bytes) >= 100
    assert all(m.echoed_at_s is not None and not m.cleared for m in recording.marks[:-20])
    assert set(recording.outbound_media_bytes) == {160}
    latencies = recording.echo_latencies_s()
    assert np.percentile(latencies, 50) < 0.050  # typically ~1 ms; bench.calls holds the p99 target

    events = await events_of(nats_url, call_id)
    kinds = [type(e) for e in events]
    assert kinds[0] is CallCreated
    assert kinds[1] is CallJoined
    assert kinds[-1] is CallEnded
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    assert ended.rejected_frames == 0
    record = await get_call(stack, call_id)
    assert record["joined"]
    assert record["ended"]
    assert record["endReason"] == "hangup"
    assert record["agentId"] == provisioned.agent_id
    details = record["providerDetails"]
    assert details["callId"] == recording.call_sid
    assert details["streamId"] == recording.stream_sid
    assert details["mediaFormat"] == "pcmu/8000"


async def test_dtmf_reaches_a_websocket_agent_as_user_text_message(
    stack: RunningStack, nats_url: str
) -> None:
    async with agent_server(echo=True) as (agent_url, peers):
        backend = {
            "websocket": {
                "url": agent_url,
                "inputSampleRate": 16000,
                "headers": {"Authorization": "Bearer t"},
            }
        }
        simulator, _ = await twilio_for(stack, {"agentBackend": backend})
        call = await simulator.place_call(
            tone(TONE_HZ, 1.6, RATE_HZ, -10.0), dtmf=[(0.2, "1"), (0.3, "2"), (1.0, "#")], tail_s=0.2
        )
    (peer,) = peers
    texts = [m for m in peer.messages if m["type"] == "user_text_message"]
    # Keys pressed in quick succession reach the agent together, after a short pause.
    assert texts == [
        {"type": "user_text_message", "text": "12", "urgency": "immediate"},
        {"type": "user_text_message", "text": "#", "urgency": "immediate"},
    ]
    assert peer.headers["Authorization"] == "Bearer t"
    assert peer.headers["X-Callbridge-Call-Id"] == call.answer.parameters["callId"]
    # The agent got the caller's audio as s16le at its own rate: 1.8 s at 16 kHz, give or take a frame.
    assert abs(len(peer.audio_in) - 1.8 * 16000 * 2) <= 2 * 640
    events = await events_of(nats_url, call.answer.parameters["callId"])
    assert [e.digit for e in events if isinstance(e, DtmfReceived)] == ["1", "2", "#"]


async def test_dtmf_handling_can_template_or_ignore_digits(stack: RunningStack) -> None:
    async with agent_server() as (agent_url, peers):
        medium = {
            "twilio": {
                "dtmfHandling": {
                    "userTextMessage": {"text": "Caller pressed {digits}", "urgency": "URGENCY_SOON"}
                }
            }
        }
        simulator, _ = await twilio_for(
            stack, {"agentBackend": {"websocket": {"url": agent_url}}, "medium": medium}
        )
        await simulator.place_call(tone(TONE_HZ, 1.0, RATE_HZ, -10.0), dtmf=[(0.2, "7")], tail_s=0.1)
    assert [m for m in peers[0].messages if m["type"] == "user_text_message"] == [
        {"type": "user_text_message", "text": "Caller pressed 7", "urgency": "soon"}
    ]


async def test_barge_in_clears_the_carrier_at_once_and_reports_what_was_heard(
    stack: RunningStack, nats_url: str
) -> None:
    speech = tone(500.0, 3.0, 16000, -6.0).tobytes()  # 3 s of agent audio, sent all at once like a TTS

    async def talk_then_get_interrupted(peer: AgentPeer) -> None:
        await peer.send_audio(speech)
        await asyncio.sleep(0.6)
        await peer.send_message({"type": "playback_clear_buffer"})

    async with agent_server(talk_then_get_interrupted) as (agent_url, _):
        simulator, _ = await twilio_for(stack, {"agentBackend": {"websocket": {"url": agent_url}}})
        call = await simulator.place_call(tone(TONE_HZ, 1.5, RATE_HZ, -30.0), tail_s=0.3)
    recording = call.recording
    assert len(recording.clears_at_s) == 1
    clear_at = recording.clears_at_s[0]
    # Paced: never more than the 100 ms lead (plus a frame) ahead of real time. Real time is taken from the
    # median of the first five frames' arrivals, so that one arrival a busy machine delayed does not set it;
    # unpaced frames would run ahead by 20 ms more with each frame and fail within a few.
    lateness = [arrived - index * 0.020 for index, arrived in enumerate(recording.outbound_media_at_s)]
    reference = statistics.median(lateness[:5])
    assert max(reference - late for late in lateness) <= 0.100 + 0.020 + 0.005
    # Nothing of the interrupted turn arrives after the clear.
    assert not [t for t in recording.outbound_media_at_s if t > clear_at]
    assert sum(recording.outbound_media_bytes) <= (0.6 + 0.15) * RATE_HZ
    # The caller hears about 0.6 s, and the marks the clear released count as not played.
    assert recording.heard is not None
    heard_s = heard_span_s(recording.heard, RATE_HZ)
    assert 0.5 <= heard_s <= 0.72, heard_s
    assert any(m.cleared for m in recording.marks)
    events = await events_of(nats_url, call.answer.parameters["callId"])
    (truncated,) = [e for e in events if isinstance(e, PlayoutTruncated)]
    assert truncated.turn == 0
    assert truncated.dropped_frames > 100
    assert abs(truncated.heard_ms - heard_s * 1000) <= 40
    assert truncated.acknowledged_ms <= truncated.heard_ms <= truncated.sent_ms <= 800


async def test_agent_hang_up_waits_for_the_goodbye_to_play(stack: RunningStack, nats_url: str) -> None:
    # 1.013 s: not a whole number of 20 ms frames, so the last 13 ms must be padded and sent, not held.
    goodbye = tone(700.0, 1.013, 16000, -6.0).tobytes()

    async def say_goodbye_and_hang_up(peer: AgentPeer) -> None:
        await peer.wait_for_audio()  # the call is live: the caller's audio reaches the agent
        await peer.send_audio(goodbye)
        await peer.send_message(
            {
                "type": "client_tool_invocation",
                "toolName": "hangUp",
                "invocationId": "inv-1",
                "parameters": {"reason": "done"},
            }
        )

    async with agent_server(say_goodbye_and_hang_up) as (agent_url, peers):
        simulator, _ = await twilio_for(stack, {"agentBackend": {"websocket": {"url": agent_url}}})
        call = await simulator.place_call(tone(TONE_HZ, 5.0, RATE_HZ, -30.0), tail_s=0.0)
        result = await peers[0].wait_for_message("client_tool_result")
    recording = call.recording
    assert recording.ended_by == "server"
    assert recording.close_code == 1000
    assert recording.heard is not None
    assert heard_span_s(recording.heard, RATE_HZ) >= 1.005  # all of the goodbye, its last part-frame included
    assert recording.ended_at_s is not None
    assert recording.ended_at_s < 2.5
    assert result["invocationId"] == "inv-1"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "agent_hangup"


async def test_unknown_tools_are_answered_with_an_error(stack: RunningStack) -> None:
    async def invoke(peer: AgentPeer) -> None:
        await peer.send_message(
            {"type": "client_tool_invocation", "toolName": "lookupOrder", "invocationId": "x"}
        )

    async with agent_server(invoke) as (agent_url, peers):
        simulator, _ = await twilio_for(stack, {"agentBackend": {"websocket": {"url": agent_url}}})
        await simulator.place_call(tone(TONE_HZ, 0.5, RATE_HZ, -30.0), tail_s=0.0)
        result = await peers[0].wait_for_message("client_tool_result")
    assert result["invocationId"] == "x"
    assert result["errorType"] == "undefined"


async def test_caller_hang_up_ends_the_call(stack: RunningStack, nats_url: str) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {}}})
    call = await simulator.place_call(tone(TONE_HZ, 5.0, RATE_HZ, -10.0), hang_up_after_s=0.4)
    assert call.recording.ended_by == "simulator"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    assert ended.duration_ms is not None
    assert 300 <= ended.duration_ms <= 1500


async def test_max_duration_ends_the_call_after_the_time_exceeded_message_has_played(
    stack: RunningStack, nats_url: str
) -> None:
    goodbye = tone(500.0, 0.5, 16000, -6.0).tobytes()

    async def say_it_after_thinking(peer: AgentPeer) -> None:
        await peer.wait_for_message("forced_agent_message", timeout_s=10.0)
        await asyncio.sleep(1.5)  # the agent takes its time to answer (longer than a second)
        await peer.send_audio(goodbye)

    async with agent_server(say_it_after_thinking) as (agent_url, peers):
        template = {
            "agentBackend": {"websocket": {"url": agent_url}},
            "maxDuration": "1s",
            "timeExceededMessage": "Sorry, we are out of time.",
        }
        simulator, _ = await twilio_for(stack, template)
        call = await simulator.place_call(tone(TONE_HZ, 8.0, RATE_HZ, -30.0), tail_s=0.0)
    assert call.recording.ended_by == "server"
    forced = [m for m in peers[0].messages if m["type"] == "forced_agent_message"]
    assert forced == [
        {"type": "forced_agent_message", "content": "Sorry, we are out of time.", "urgency": "immediate"}
    ]
    assert call.recording.heard is not None
    assert heard_span_s(call.recording.heard, RATE_HZ) >= 0.49  # the whole goodbye reached the caller
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "timeout"
    assert ended.duration_ms is not None
    assert 1000 + 1500 + 500 <= ended.duration_ms <= 1000 + 1500 + 500 + 2000


async def test_unreachable_agent_ends_the_call_with_connection_error(
    stack: RunningStack, nats_url: str
) -> None:
    simulator, _ = await twilio_for(
        stack, {"agentBackend": {"websocket": {"url": "ws://127.0.0.1:9/nobody"}}}
    )
    call = await simulator.place_call(tone(TONE_HZ, 3.0, RATE_HZ, -30.0), tail_s=0.0)
    assert call.recording.ended_by == "server"
    events = await events_of(nats_url, call.answer.parameters["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "connection_error"
    assert ended.detail is not None
    assert "agent unavailable" in ended.detail
    call_record = await get_call(stack, call.answer.parameters["callId"])
    assert call_record["endReason"] == "connection_error"
    assert call_record["endDetail"] == ended.detail  # why it failed, in the record, not only in an event


async def test_a_join_url_works_once(stack: RunningStack) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {}}})
    call = await simulator.place_call(tone(TONE_HZ, 0.3, RATE_HZ, -10.0), tail_s=0.0)
    with pytest.raises(ConnectionClosed) as closed:
        async with connect(call.answer.stream_url, open_timeout=5) as again:
            await again.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409


async def test_forged_join_urls_are_refused_before_the_handshake(stack: RunningStack) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {}}})
    answer = await simulator.incoming_call(from_number="+15550001", to_number="+15550002")
    expires, _, mac = answer.stream_url.rsplit("/", 1)[1].partition(".")
    base = answer.stream_url.rsplit("/", 1)[0]
    for url in (
        f"{base}/{int(expires) + 60}.{mac}",
        f"{base}/{expires}.{'A' * len(mac)}",
        answer.stream_url.replace("/calls/", "/calls/x"),
        stack.media_url + "/elsewhere",
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, open_timeout=5):
                pass
        assert refused.value.response.status_code in (403, 404)
    # The genuine URL still works: refusals did not consume it.
    recording = await simulator.stream(answer, tone(TONE_HZ, 0.3, RATE_HZ, -10.0), tail_s=0.0)
    assert recording.ended_by == "simulator"
    assert recording.frames_sent == 15


async def test_unjoined_call_ends_at_join_timeout_and_its_url_expires(
    stack: RunningStack, nats_url: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        call = (await api.post("/api/calls", json={"joinTimeout": "1s", "agentBackend": {"echo": {}}})).json()
    events = await events_of(nats_url, call["callId"], timeout_s=8)
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "unjoined"
    assert ended.duration_ms is None
    with pytest.raises(InvalidStatus) as refused:
        async with connect(call["joinUrl"], open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    assert (await get_call(stack, call["callId"]))["endReason"] == "unjoined"


async def test_malformed_frames_are_counted_and_skipped_without_harming_the_call(
    stack: RunningStack, nats_url: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        call = (await api.post("/api/calls", json={"agentBackend": {"echo": {"sampleRate": 8000}}})).json()
    stream_sid = "MZ" + "0" * 32
    payload = base64.b64encode(ulaw_encode(tone(TONE_HZ, 0.02, RATE_HZ, -10.0))).decode()
    media = orjson.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"track": "inbound", "payload": payload}}
    ).decode()
    bad: list[str | bytes] = [
        "not json",
        '{"event":"media","media":{"payload":"***"}}',
        '{"event":"bogus"}',
        "[1,2]",
        '{"event":"dtmf","dtmf":{"digit":"X"}}',
        b"\x00\x01",
    ]
    async with connect(call["joinUrl"], open_timeout=5) as twilio:
        await twilio.send('{"event":"connected","protocol":"Call","version":"1.0.0"}')
        await twilio.send(
            f'{{"event":"start","sequenceNumber":"1","streamSid":"{stream_sid}","start":{{"streamSid":"{stream_sid}",'
            '"callSid":"CA1","accountSid":"AC1","tracks":["inbound"],'
            '"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},'
            '"customParameters":{}}}'
        )
        for message in bad:
            await twilio.send(message)
            await twilio.send(media)
        echoed = 0
        async with asyncio.timeout(5):
            while echoed < len(bad):
                reply = await twilio.recv()
                echoed += '"event":"media"' in str(reply)
        await twilio.send(
            f'{{"event":"stop","streamSid":"{stream_sid}","stop":{{"accountSid":"AC1","callSid":"CA1"}}}}'
        )
    events = await events_of(nats_url, call["callId"])
    rejected = [e for e in events if isinstance(e, MediaFramesRejected)]
    # Reported within the call's rate limit (a burst of five): the sixth is only counted.
    assert [e.count for e in rejected] == [1] * 5
    assert "not JSON" in rejected[0].detail
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    assert ended.rejected_frames == len(bad)


async def test_a_call_without_a_medium_learns_its_provider_from_the_stream(stack: RunningStack) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        call = (await api.post("/api/calls", json={"agentBackend": {"echo": {}}})).json()
    assert call["medium"] is None
    simulator = TwilioSimulator("http://unused.invalid/", "token", "AC" + "0" * 32, allow_insecure_ws=True)
    answer = TwiMLAnswer(
        call_sid="CA" + "1" * 32,
        stream_url=call["joinUrl"],
        parameters={},
        hangup_follows=True,
        verbs_after_connect=("Hangup",),
        twiml="",
        stream_name=None,
        status_callback=None,
        stream_attributes={},
    )
    recording = await simulator.stream(answer, tone(TONE_HZ, 0.4, RATE_HZ, -10.0), tail_s=0.0)
    assert recording.ended_by == "simulator"
    assert len(recording.outbound_media_bytes) >= 15  # echoed: recognised as Twilio and bridged
    record = await get_call(stack, call["callId"])
    assert record["medium"] == {"twilio": {"outgoing": None, "dtmfHandling": None}}
    assert record["providerDetails"]["provider"] == "twilio"


async def test_a_socket_closed_without_stop_ends_the_call_as_hangup(
    stack: RunningStack, nats_url: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.webhooks_url, headers={"X-API-Key": stack.api_key}) as api:
        call = (await api.post("/api/calls", json={"agentBackend": {"echo": {}}})).json()
    stream_sid = "MZ" + "2" * 32
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "streamSid": stream_sid,
            "callSid": "CA2",
            "accountSid": "AC2",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {},
        },
    }
    async with connect(call["joinUrl"], open_timeout=5) as twilio:
        await twilio.send(orjson.dumps(start).decode())
        await events_of(nats_url, call["callId"], until=CallJoined)
    # The socket closed here, with no `stop`: the caller's leg is gone.
    events = await events_of(nats_url, call["callId"])
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "hangup"
    assert ended.detail is not None
    assert "closed the stream" in ended.detail


async def test_a_provider_call_that_streamed_gets_a_new_call_when_it_asks_again(stack: RunningStack) -> None:
    simulator, _ = await twilio_for(stack, {"agentBackend": {"echo": {}}})
    params = {"CallSid": "CA" + "e" * 32}
    first = await simulator.incoming_call(from_number="+15550001", to_number="+15550002", extra_params=params)
    await simulator.stream(first, tone(TONE_HZ, 0.3, RATE_HZ, -10.0), tail_s=0.0)
    # The same provider call comes back to the webhook (a flow running the stream verb again, with a
    # request of its own: the call is in progress now): the first call was joined, so this is a new call
    # with a new join URL. The very same request again would be a replay (see test_webhook_replays.py).
    second = await simulator.incoming_call(
        from_number="+15550001", to_number="+15550002", extra_params={**params, "CallStatus": "in-progress"}
    )
    assert second.stream_url != first.stream_url
    recording = await simulator.stream(second, tone(TONE_HZ, 0.3, RATE_HZ, -10.0), tail_s=0.0)
    assert recording.ended_by == "simulator"
    assert len(recording.outbound_media_bytes) >= 10
