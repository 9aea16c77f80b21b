"""The Plivo simulator against a fake callbridge (real HTTP, real WebSockets): V3 signatures, the `<Stream>`
XML, a stream without `connected`, numeric sequence numbers, playAudio checks, checkpoints and clearAudio."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection

from callbridge.devkit.signals import silence, tone
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.plivo import PlivoSimulator, v3_base_string, v3_signature
from callbridge.devkit.simulators.plivo_xml import parse_plivo_xml
from callbridge.media.audio.g711 import ulaw_encode
from tests.devkit.fake_provider_server import (
    FakeServer,
    HttpRequest,
    ServerLog,
    b64,
    media_chunk_at_least,
    to_text,
)

AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
AUTH_TOKEN = "plivo-auth-token-for-tests"
# §5.3's verified vectors.
VECTOR_TOKEN = "MY_AUTH_TOKEN"
VECTOR_NONCE = "05429567804466091622"
VECTOR_PARAMS = {"CallUUID": "abc", "From": "14155550100", "To": "14155550199", "Direction": "inbound"}


def stream_xml(url: str, *, content_type: str = "audio/x-l16;rate=16000", extra: str = "") -> str:
    return (
        f'<Response><Stream bidirectional="true" keepCallAlive="true" contentType="{content_type}" '
        f'statusCallbackUrl="https://cb.example.com/plivo/status" {extra}>{url}</Stream></Response>'
    )


def serve_xml(fake: FakeServer, **options: Any) -> None:
    def answer(request: HttpRequest) -> tuple[int, str, str]:
        return 200, "application/xml", stream_xml(f"{fake.ws_url}/plivo", **options)

    fake.answer = answer


def simulator(fake: FakeServer, **options: Any) -> PlivoSimulator:
    url = f"{fake.http_url}/api/agents/a1/telephony_xml"
    return PlivoSimulator(url, AUTH_ID, AUTH_TOKEN, allow_insecure_ws=True, **options)


def l16(pcm: np.ndarray[Any, np.dtype[np.int16]]) -> bytes:
    return pcm.astype("<i2").tobytes()


def play_audio(pcm: np.ndarray[Any, np.dtype[np.int16]], rate_hz: int = 16000) -> str:
    media = {"contentType": "audio/x-l16", "sampleRate": rate_hz, "payload": b64(l16(pcm))}
    return to_text({"event": "playAudio", "media": media})


# --- signatures, the answer request and its XML -----------------------------------------------------------


def test_plivo_v3_base_strings_and_signatures_match_the_published_vectors() -> None:
    post = v3_base_string("POST", "https://example.com/answer/", VECTOR_PARAMS)
    get = v3_base_string("GET", "https://example.com/answer/?b=2&a=1", {})
    both = v3_base_string("POST", "https://example.com/answer/?b=2&a=1", VECTOR_PARAMS)

    assert post == "https://example.com/answer/?CallUUIDabcDirectioninboundFrom14155550100To14155550199"
    assert v3_signature(VECTOR_TOKEN, post, VECTOR_NONCE) == "Vw0ONp1YrzdQ2JE7CfowIgt7x6LX+AM0IGhJNiF0u3c="
    assert get == "https://example.com/answer/?a=1&b=2"
    assert v3_signature(VECTOR_TOKEN, get, VECTOR_NONCE) == "AiiawZWXrUleSaAf3DvePmOF7NSzN7SovFA1jo8dccE="
    assert (
        both == "https://example.com/answer/?a=1&b=2.CallUUIDabcDirectioninboundFrom14155550100To14155550199"
    )


def test_plivo_v3_base_string_sorts_list_values_and_merges_get_parameters() -> None:
    assert v3_base_string("POST", "https://h/a", {"b": ["2", "1"], "a": "x"}) == "https://h/a?axb1b2"
    assert v3_base_string("GET", "https://h/a?z=1", {"y": ["3", "2"]}) == "https://h/a?y=2&y=3&z=1"
    assert v3_base_string("POST", "https://h/a", {}) == "https://h/a"


async def test_plivo_answer_request_is_a_v3_signed_form_post(fake_server: FakeServer) -> None:
    serve_xml(fake_server, extra='extraHeaders="tenant=t1,callId=c1"')
    plivo = simulator(fake_server)

    answer = await plivo.incoming_call(from_number="14155550100", to_number="14155550199")

    request = fake_server.requests[0]
    nonce = request.headers["x-plivo-signature-v3-nonce"]
    assert re.fullmatch(r"\d{20}", nonce)
    assert request.form == {
        "CallUUID": answer.call_uuid,
        "From": "14155550100",
        "To": "14155550199",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "Event": "StartApp",
    }
    base = (
        f"{plivo.webhook_url}?CallStatusringingCallUUID{answer.call_uuid}DirectioninboundEventStartApp"
        "From14155550100To14155550199"
    )
    assert request.headers["x-plivo-signature-v3"] == v3_signature(AUTH_TOKEN, base, nonce)
    assert answer.stream_url == f"{fake_server.ws_url}/plivo"
    assert (answer.encoding, answer.sample_rate_hz) == ("audio/x-l16", 16000)
    assert answer.extra_headers == "tenant=t1,callId=c1"
    assert answer.status_callback_url == "https://cb.example.com/plivo/status"


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ('<Response><Stream keepCallAlive="true">wss://h/p</Stream></Response>', 'bidirectional="true"'),
        ('<Response><Stream bidirectional="true">wss://h/p</Stream></Response>', 'keepCallAlive="true"'),
        (stream_xml("wss://h/p", content_type="audio/x-mulaw;rate=16000"), "audio/x-mulaw;rate=8000"),
        (stream_xml("wss://h/p", extra='audioTrack="both"'), '"inbound"'),
        ('<Response><Speak>Hi</Speak><Stream bidirectional="true">wss://h/p</Stream></Response>', "<Speak>"),
        (stream_xml(""), "no URL"),
        (stream_xml("https://h/p"), "wss"),
    ],
)
def test_plivo_xml_that_would_not_hold_a_bidirectional_stream_raises(xml: str, message: str) -> None:
    with pytest.raises(AnswerError, match=re.escape(message)):
        parse_plivo_xml(xml, call_uuid="u", webhook_url="https://h/answer")


def test_plivo_content_type_defaults_to_l16_at_8_khz() -> None:
    xml = '<Response><Stream bidirectional="true" keepCallAlive="True">wss://h/p</Stream><Hangup/></Response>'

    answer = parse_plivo_xml(xml, call_uuid="u", webhook_url="https://h/answer")

    assert (answer.encoding, answer.sample_rate_hz) == ("audio/x-l16", 8000)  # §3.6: not μ-law
    assert answer.elements_after_stream == ("Hangup",)
    assert PlivoSimulator("https://h/", AUTH_ID, AUTH_TOKEN).inbound_codec(answer).byte_order == "little"


# --- the stream -------------------------------------------------------------------------------------------


async def test_plivo_stream_starts_without_connected_and_numbers_messages(fake_server: FakeServer) -> None:
    serve_xml(fake_server, extra='extraHeaders="tenant=t1"')
    audio = tone(440.0, 0.1, 16000)

    call = await simulator(fake_server).place_call(audio, dtmf=[(0.04, "5")], tail_s=0.04)

    log, stream_id = fake_server.log, call.recording.stream_sid
    assert log.events()[0] == "start"  # §3.2: no `connected`
    assert "connected" not in log.events()
    assert log.messages[0][1] == {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": call.answer.call_uuid,
            "streamId": stream_id,
            "accountId": AUTH_ID,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000},
        },
        "extra_headers": "tenant=t1",
    }
    assert [message["sequenceNumber"] for _, message in log.messages] == list(range(1, len(log.messages) + 1))
    media = [message for _, message in log.of("media")]
    assert media[1] == {
        "event": "media",
        "sequenceNumber": media[1]["sequenceNumber"],
        "streamId": stream_id,
        "media": {"track": "inbound", "timestamp": "20", "chunk": 2, "payload": media[1]["media"]["payload"]},
        "extra_headers": "tenant=t1",
    }
    payloads = b"".join(base64.b64decode(m["media"]["payload"]) for m in media[:5])
    assert np.array_equal(np.frombuffer(payloads, dtype="<i2"), audio)  # §3.4: little-endian
    assert log.of("dtmf")[0][1]["dtmf"] == {"track": "inbound", "digit": "5", "timestamp": "40"}
    assert log.messages[-1][1] == {
        "event": "stop",
        "sequenceNumber": len(log.messages),
        "streamId": stream_id,
        "reason": "hangup",
    }


async def test_plivo_checkpoint_is_answered_after_play_and_dropped_by_clear_audio(
    fake_server: FakeServer,
) -> None:
    async def server(ws: ServerConnection, log: ServerLog) -> None:
        stream_id = str((await log.recv(ws))["start"]["streamId"])
        await ws.send(to_text({"event": "checkpoint", "streamId": stream_id, "name": "nothing-buffered"}))
        await ws.send(play_audio(tone(500.0, 0.2, 16000)))
        await ws.send(to_text({"event": "checkpoint", "name": "greeting"}))
        await ws.send(play_audio(tone(700.0, 2.0, 16000)))
        await ws.send(to_text({"event": "checkpoint", "streamId": stream_id, "name": "cut"}))
        chunk = 0
        while (message := await log.recv(ws)).get("name") != "greeting":
            chunk = int(message.get("media", {}).get("chunk", chunk))
        # 100 ms of the 700 Hz tone play: five more of the caller's 20 ms frames on the stream's clock.
        await log.recv_until(ws, media_chunk_at_least(chunk + 5))
        await ws.send(to_text({"event": "clearAudio", "streamId": stream_id}))
        await ws.send(to_text({"event": "checkpoint", "name": "after-clear"}))
        await log.recv_until_closed(ws)

    fake_server.handler = server
    serve_xml(fake_server)

    call = await simulator(fake_server).place_call(silence(0.1, 16000), tail_s=0.4)

    log, recording = fake_server.log, call.recording
    played = log.of("playedStream")
    assert [message["name"] for _, message in played] == ["nothing-buffered", "greeting", "after-clear"]
    assert played[0][1] == {
        "event": "playedStream",
        "sequenceNumber": played[0][1]["sequenceNumber"],
        "streamId": recording.stream_sid,
        "name": "nothing-buffered",
    }
    greeting = recording.marks[1]
    assert greeting.echoed_at_s is not None
    assert 0.2 <= greeting.echoed_at_s - greeting.received_at_s <= 0.2 + 0.020 + 0.015
    cleared = log.of("clearedAudio")
    assert len(cleared) == 1
    assert cleared[0][1] == {
        "sequenceNumber": cleared[0][1]["sequenceNumber"],
        "event": "clearedAudio",
        "streamId": recording.stream_sid,
    }
    assert [(m.name, m.cleared, m.echoed_at_s is None) for m in recording.marks] == [
        ("nothing-buffered", False, False),
        ("greeting", False, False),
        ("cut", True, True),  # dropped, never answered (§3.6)
        ("after-clear", False, False),
    ]
    assert recording.unechoed_marks == []
    assert len(recording.cleared_acks_at_s) == 1
    assert recording.heard is not None
    clear_sample = round(recording.clears_at_s[0] * 16000)
    assert np.abs(recording.heard[clear_sample - 800 : clear_sample]).max() > 1000
    assert not recording.heard[clear_sample:].any()


async def test_plivo_played_event_name_no_stop_and_mismatched_play_audio(fake_server: FakeServer) -> None:
    async def server(ws: ServerConnection, log: ServerLog) -> None:
        await log.recv(ws)
        await ws.send(play_audio(tone(500.0, 0.02, 16000)))  # L16 16 kHz on a μ-law 8 kHz stream
        media = {
            "contentType": "audio/x-mulaw",
            "sampleRate": 8000,
            "payload": b64(ulaw_encode(silence(0.02))),
        }
        await ws.send(to_text({"event": "playAudio", "media": media}))
        await ws.send(to_text({"event": "media", "media": {"payload": ""}}))
        await ws.send(to_text({"event": "playAudio", "media": {"payload": ""}}))
        await ws.send(to_text({"event": "checkpoint"}))
        await ws.send(to_text({"event": "checkpoint", "name": "x"}))
        await log.recv_until_closed(ws)

    fake_server.handler = server
    serve_xml(fake_server, content_type="audio/x-mulaw;rate=8000")

    call = await simulator(fake_server, played_event="played", send_stop=False).place_call(
        silence(0.1), tail_s=0.1
    )

    recording = call.recording
    reasons = [violation.reason for violation in recording.violations]
    assert len(reasons) == 4
    assert "audio/x-l16 at 16000 Hz on a stream of audio/x-mulaw at 8000 Hz" in reasons[0]
    assert "wrong speed" in reasons[0]
    assert "unknown event 'media'" in reasons[1]
    assert "media.contentType" in reasons[2]
    assert "checkpoint without a string name" in reasons[3]
    assert recording.outbound_media_bytes == [640, 160]  # the mismatched one still plays, slowly
    assert [message["name"] for _, message in fake_server.log.of("played")] == ["x"]
    assert "playedStream" not in fake_server.log.events()
    assert "stop" not in fake_server.log.events()  # §3.2: stop is undocumented; this Plivo just closes
    assert recording.stop_sent_at_s is None
    assert recording.ended_by == "simulator"
    assert recording.close_code == 1000
