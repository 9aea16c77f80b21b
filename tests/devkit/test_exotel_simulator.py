"""The Exotel simulator against a fake callbridge (real HTTP, real WebSockets): the secret by Basic auth or
in the path, the JSON answer and its sample rate, the stream's field-name variants, chunk rules, marks."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection

from callbridge.devkit.signals import silence, tone
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.exotel import ExotelSimulator, parse_exotel_answer
from callbridge.devkit.simulators.exotel_wire import MinChunkRule, chunk_rule_violations, min_chunk_bytes
from tests.devkit.fake_provider_server import FakeServer, HttpRequest, ServerLog, b64, mark_echo, to_text

SECRET = "exotel-webhook-secret-0123456789"
BASIC = "Basic " + base64.b64encode(f"exotel:{SECRET}".encode()).decode()


def serve_json(fake: FakeServer, query: str = "?token=abc&sample-rate=16000") -> None:
    def answer(request: HttpRequest) -> tuple[int, str, str]:
        authorized = request.headers.get("authorization") == BASIC or request.path.endswith(f"/{SECRET}")
        if not authorized:
            return 401, "text/plain", "no secret"
        return 200, "application/json", f'{{"url": "{fake.ws_url}/exotel/media{query}"}}'

    fake.answer = answer


def simulator(fake: FakeServer, **options: Any) -> ExotelSimulator:
    url = f"{fake.http_url}/api/agents/a1/telephony_xml"
    return ExotelSimulator(url, SECRET, allow_insecure_ws=True, **options)


def media(pcm_bytes: bytes) -> str:
    return to_text({"event": "media", "media": {"payload": b64(pcm_bytes)}})


# --- the incoming request and its answer ------------------------------------------------------------------


async def test_exotel_incoming_call_is_a_get_with_basic_auth(fake_server: FakeServer) -> None:
    serve_json(fake_server)

    answer = await simulator(fake_server).incoming_call(from_number="09845011223", to_number="08012345678")

    request = fake_server.requests[0]
    assert request.method == "GET"
    assert request.path == "/api/agents/a1/telephony_xml"
    assert request.headers["authorization"] == BASIC
    assert request.body == b""
    assert re.fullmatch(r"[0-9a-f]{32}", request.query["CallSid"])
    assert request.query == {
        "CallSid": answer.call_sid,
        "CallFrom": "09845011223",
        "CallTo": "08012345678",
        "Direction": "incoming",
        "CallStatus": "in-progress",
    }
    assert answer.stream_url == f"{fake_server.ws_url}/exotel/media?token=abc&sample-rate=16000"
    assert answer.sample_rate_hz == 16000
    assert answer.custom_parameters == {"token": "abc"}


async def test_exotel_secret_can_be_the_last_path_segment_of_a_form_post(fake_server: FakeServer) -> None:
    serve_json(fake_server)

    await simulator(fake_server, auth="path", method="POST").incoming_call(from_number="1", to_number="2")

    request = fake_server.requests[0]
    assert request.method == "POST"
    assert request.path == f"/api/agents/a1/telephony_xml/{SECRET}"
    assert "authorization" not in request.headers
    assert request.form["CallFrom"] == "1"
    assert request.form["Direction"] == "incoming"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"url": "wss://h/m?sample-rate=11025"}', "8000, 16000 or 24000"),
        ('{"url": "https://h/m"}', "wss://"),
        ('{"uri": "wss://h/m"}', '"url"'),
        ("<Response/>", "not JSON"),
    ],
)
def test_exotel_answer_the_applet_could_not_stream_to_raises(body: str, message: str) -> None:
    with pytest.raises(AnswerError, match=re.escape(message)):
        parse_exotel_answer(body, call_sid="c", from_number="1", to_number="2")


def test_exotel_sample_rate_defaults_to_8000() -> None:
    answer = parse_exotel_answer('{"url": "wss://h/m"}', call_sid="c", from_number="1", to_number="2")

    assert answer.sample_rate_hz == 8000
    assert answer.custom_parameters == {}


# --- the stream -------------------------------------------------------------------------------------------


async def test_exotel_stream_messages_carry_stream_sid_and_string_fields(fake_server: FakeServer) -> None:
    serve_json(fake_server)
    audio = tone(440.0, 0.1, 16000)

    call = await simulator(fake_server, account_sid="exotel-sid").place_call(
        audio, from_number="09845011223", to_number="08012345678", dtmf=[(0.04, "3")], tail_s=0.04
    )

    log, recording = fake_server.log, call.recording
    sid = recording.stream_sid
    assert fake_server.upgrades[0][0] == "/exotel/media?token=abc&sample-rate=16000"
    assert log.messages[0][1] == {"event": "connected", "protocol": "Exotel Media Stream", "version": "1.0.0"}
    assert log.messages[1][1] == {
        "event": "start",
        "sequence_number": "1",
        "stream_sid": sid,
        "start": {
            "stream_sid": sid,
            "call_sid": call.answer.call_sid,
            "account_sid": "exotel-sid",
            "from": "09845011223",
            "to": "08012345678",
            "custom_parameters": {"token": "abc"},
            "media_format": {"encoding": "base64", "sample_rate": "16000", "bit_rate": "256kbps"},
        },
    }
    numbered = [message["sequence_number"] for _, message in log.messages[1:]]
    assert numbered == [str(n) for n in range(1, len(log.messages))]
    first = log.of("media")[0][1]
    assert first == {
        "event": "media",
        "sequence_number": "2",
        "stream_sid": sid,
        "media": {"chunk": "1", "timestamp": "0", "payload": first["media"]["payload"]},
    }
    payloads = b"".join(base64.b64decode(m["media"]["payload"]) for _, m in log.of("media")[:5])
    assert np.array_equal(np.frombuffer(payloads, dtype="<i2"), audio)  # §4.4: PCM16 LE at the URL's rate
    dtmf = log.of("dtmf")[0][1]
    assert dtmf["dtmf"] == {"digit": "3", "duration": "200"}
    assert log.messages[-1][1] == {
        "event": "stop",
        "sequence_number": str(len(log.messages) - 1),
        "stream_sid": sid,
        "stop": {"call_sid": call.answer.call_sid, "account_sid": "exotel-sid", "reason": "callended"},
    }


async def test_exotel_variants_stream_sid_only_in_start_hz_rate_and_100_ms_chunks(
    fake_server: FakeServer,
) -> None:
    serve_json(fake_server, query="")  # no sample-rate: 8000

    call = await simulator(
        fake_server, stream_sid_placement="start", sample_rate_format="hz", inbound_frame_ms=100
    ).place_call(tone(300.0, 0.25, 8000), tail_s=0.0)

    log = fake_server.log
    assert all("stream_sid" not in message for _, message in log.messages)
    start = log.of("start")[0][1]["start"]
    assert start["stream_sid"] == call.recording.stream_sid
    assert start["media_format"]["sample_rate"] == "8000Hz"
    media = [message["media"] for _, message in log.of("media")]
    assert [m["timestamp"] for m in media] == ["0", "100", "200"]
    assert {len(base64.b64decode(m["payload"])) for m in media} == {1600}  # 100 ms at 8 kHz, 16-bit
    assert call.recording.frames_sent == 3
    assert call.recording.frame_s == pytest.approx(0.1)


async def test_exotel_chunks_off_the_size_rules_are_violations(fake_server: FakeServer) -> None:
    async def server(ws: ServerConnection, log: ServerLog) -> None:
        await log.recv(ws)
        sid = str((await log.recv(ws))["stream_sid"])
        await ws.send(media(bytes(3200)))  # 100 ms at 16 kHz, 10 × 320: fine
        await ws.send(to_text({"event": "media", "streamSid": sid, "media": {"payload": b64(bytes(6720))}}))
        await ws.send(media(bytes(6500)))  # not a multiple of 320
        await ws.send(media(bytes(1920)))  # 60 ms: under 3200 bytes and under 100 ms
        await ws.send(media(bytes(102720)))  # 321 × 320, over 100 KB
        await ws.send(to_text({"event": "clear", "stream_sid": "someone-else"}))
        await log.recv_until_closed(ws)

    fake_server.handler = server
    serve_json(fake_server)

    call = await simulator(fake_server).place_call(silence(0.1, 16000), tail_s=0.0)

    reasons = [violation.reason for violation in call.recording.violations]
    assert len(reasons) == 4
    assert "6500 bytes is not a multiple of 320" in reasons[0]
    assert "1920 bytes is under Exotel's minimum (3200 bytes at 16000 Hz)" in reasons[1]
    assert "over Exotel's 100 KB maximum" in reasons[2]
    assert "stream_sid 'someone-else' does not match" in reasons[3]
    assert call.recording.clears_at_s == []
    assert call.recording.outbound_media_bytes == [3200, 6720, 6500, 1920, 102720]


@pytest.mark.parametrize(
    ("rule", "rate_hz", "smallest_bytes"),
    [
        ("documented", 8000, 3200),  # 3.2 KB, which is 200 ms at 8 kHz
        ("documented", 16000, 3200),  # 3.2 KB = 100 ms
        ("documented", 24000, 4800),  # 100 ms > 3.2 KB
        ("scaled", 8000, 3200),
        ("scaled", 16000, 6400),
        ("scaled", 24000, 9600),
    ],
)
def test_exotel_minimum_chunk_under_either_reading_of_its_rule(
    rule: MinChunkRule, rate_hz: int, smallest_bytes: int
) -> None:
    assert min_chunk_bytes(rate_hz, rule) == smallest_bytes
    assert chunk_rule_violations(smallest_bytes, rate_hz, rule) == []
    too_short = chunk_rule_violations(smallest_bytes - 320, rate_hz, rule)
    assert too_short == [
        f"media chunk of {smallest_bytes - 320} bytes is under Exotel's minimum ({smallest_bytes} bytes at "
        f"{rate_hz} Hz)"
    ]


@pytest.mark.parametrize("echo_on_clear", [True, False])
async def test_exotel_marks_echo_on_play_and_on_clear_only_when_configured(
    fake_server: FakeServer, echo_on_clear: bool
) -> None:
    async def server(ws: ServerConnection, log: ServerLog) -> None:
        await log.recv(ws)
        await log.recv(ws)
        await ws.send(media(bytes(1600)))  # 100 ms at 8 kHz (under the minimum, but it plays)
        await ws.send(to_text({"event": "mark", "mark": {"name": "played"}}))
        await ws.send(media(bytes(16000)))  # 1 s
        await ws.send(to_text({"event": "mark", "mark": {"name": "pending"}}))
        await log.recv_until(ws, mark_echo("played"))  # the second second of audio is playing now
        await ws.send(to_text({"event": "clear"}))
        await log.recv_until_closed(ws)

    fake_server.handler = server
    serve_json(fake_server, query="")

    call = await simulator(fake_server, echo_marks_on_clear=echo_on_clear).place_call(
        silence(0.1), tail_s=0.2
    )

    echoes = [message["mark"]["name"] for _, message in fake_server.log.of("mark")]
    assert echoes == (["played", "pending"] if echo_on_clear else ["played"])
    pending = call.recording.marks[1]
    assert pending.cleared
    assert (pending.echoed_at_s is not None) is echo_on_clear
    assert call.recording.unechoed_marks == []
