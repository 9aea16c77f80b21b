"""The Telnyx simulator against a fake callbridge (real HTTP, real WebSockets): Ed25519-signed webhooks,
TeXML, the snake_case stream, L16 byte order, out-of-order frames, RTP chunk rules, marks, clear, errors."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.asyncio.server import ServerConnection

from callbridge.devkit.signals import delay_samples, silence, sinad_db, tone
from callbridge.devkit.simulators.errors import AnswerError, WebhookRejectedError
from callbridge.devkit.simulators.telnyx import TelnyxSimulator, TelnyxStreamError, private_key_from_seed
from callbridge.devkit.simulators.telnyx_wire import frame_delays
from callbridge.devkit.simulators.texml import parse_texml
from callbridge.media.audio.g711 import alaw_encode, ulaw_encode
from tests.devkit.fake_provider_server import FakeServer, HttpRequest, ServerLog, b64, mark_echo, to_text

# §5.2's synthetic vector (not a Telnyx key).
SEED = bytes(range(32))
PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
VECTOR_BODY = '{"data":{"event_type":"call.initiated","payload":{"call_control_id":"v3:abc"}}}'
VECTOR_SIGNATURE = "3IagqxhPT6LiDx2vo652YOvhClZ4Yjba3geJrEVB507XIk3KPiG7LpKx+lDRjUEOgJ30dd1KU7r7UkkQ3VrYCQ=="
ACCOUNT_SID = "8c1c0a4e-5e6b-4a51-9a3b-0d7f3b2c1a00"


def texml(stream_url: str, *, codec: str = "PCMU", out_codec: str = "PCMU", out_rate: int = 8000) -> str:
    return (
        f'<Response><Connect><Stream url="{stream_url}" bidirectionalMode="rtp" codec="{codec}" '
        f'bidirectionalCodec="{out_codec}" bidirectionalSamplingRate="{out_rate}" '
        'statusCallback="https://cb.example.com/status"><Parameter name="callId" value="c-1"/>'
        "</Stream></Connect><Hangup/></Response>"
    )


def signature_valid(request: HttpRequest) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC_KEY))
    message = request.headers["telnyx-timestamp"].encode() + b"|" + request.body
    try:
        key.verify(base64.b64decode(request.headers["telnyx-signature-ed25519"]), message)
    except InvalidSignature:
        return False
    return True


def serve_texml(fake: FakeServer, **codecs: Any) -> None:
    def answer(request: HttpRequest) -> tuple[int, str, str]:
        if not signature_valid(request):
            return 403, "text/plain", "invalid telnyx-signature-ed25519"
        return 200, "text/xml", texml(f"{fake.ws_url}/telnyx", **codecs)

    fake.answer = answer


def simulator(fake: FakeServer, **options: Any) -> TelnyxSimulator:
    return TelnyxSimulator(
        f"{fake.http_url}/api/agents/a1/telephony_xml",
        private_key=SEED,
        account_sid=ACCOUNT_SID,
        allow_insecure_ws=True,
        **options,
    )


async def start_of_stream(ws: ServerConnection, log: ServerLog) -> str:
    await log.recv(ws)  # connected
    return str((await log.recv(ws))["stream_id"])


# --- signatures and the webhook ---------------------------------------------------------------------------


def test_telnyx_signature_matches_the_synthetic_vector() -> None:
    telnyx = TelnyxSimulator("https://unused.example.com/", private_key=SEED)

    assert telnyx.public_key_base64 == PUBLIC_KEY
    assert telnyx.sign(1700000000, VECTOR_BODY) == VECTOR_SIGNATURE
    assert telnyx.sign(1700000000, VECTOR_BODY.encode()) == VECTOR_SIGNATURE


def test_telnyx_seed_is_read_from_hex_or_base64() -> None:
    for text in (SEED.hex(), base64.b64encode(SEED).decode()):
        key = private_key_from_seed(text)
        assert TelnyxSimulator("https://unused/", private_key=key).public_key_base64 == PUBLIC_KEY
    with pytest.raises(ValueError, match="32 bytes"):
        private_key_from_seed("abcd")


async def test_telnyx_incoming_call_is_a_signed_form_post(fake_server: FakeServer) -> None:
    serve_texml(fake_server)

    answer = await simulator(fake_server, clock=lambda: 1700000000.5).incoming_call(
        from_number="+13122010094", to_number="+13122123456"
    )

    request = fake_server.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["telnyx-timestamp"] == "1700000000"
    assert signature_valid(request)  # over the raw body, as the server must check it
    assert re.fullmatch(r"v3:[A-Za-z0-9_-]{20,}", request.form["CallSid"])
    assert request.form == {
        "AccountSid": ACCOUNT_SID,
        "CallSid": answer.call_sid,
        "From": "+13122010094",
        "To": "+13122123456",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    assert answer.stream_url == f"{fake_server.ws_url}/telnyx"
    assert answer.parameters == {"callId": "c-1"}
    assert (answer.bidirectional_codec, answer.bidirectional_rate_hz) == ("PCMU", 8000)
    assert answer.status_callback == "https://cb.example.com/status"
    assert answer.hangup_follows


async def test_telnyx_webhook_signed_with_another_key_is_rejected(fake_server: FakeServer) -> None:
    serve_texml(fake_server)
    stranger = TelnyxSimulator(f"{fake_server.http_url}/x", private_key=bytes(32))

    with pytest.raises(WebhookRejectedError) as excinfo:
        await stranger.incoming_call(from_number="+1", to_number="+2")

    assert excinfo.value.status_code == 403


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ('codec="PCMU"', "MP3"),  # no bidirectionalMode: Telnyx's default is mp3
        ('bidirectionalMode="mp3"', "MP3"),
        ('bidirectionalMode="rtp" bidirectionalCodec="L16" bidirectionalSamplingRate="8000"', "16000 Hz"),
        ('bidirectionalMode="rtp" bidirectionalCodec="pcmu"', "case-sensitive"),
        ('bidirectionalMode="rtp" codec="G722"', "G722"),
        ('bidirectionalMode="rtp" track="both_tracks"', "inbound_track"),
    ],
)
def test_texml_telnyx_would_not_stream_raw_audio_with_raises(attributes: str, message: str) -> None:
    document = f'<Response><Connect><Stream url="wss://gw.example.com/t" {attributes}/></Connect></Response>'

    with pytest.raises(AnswerError, match=re.escape(message)):
        parse_texml(document, call_sid="v3:x", from_number="+1", to_number="+2", webhook_url="https://h/")


def test_texml_defaults_are_pcmu_8k_both_ways_and_ws_needs_permission() -> None:
    document = '<Response><Connect><Stream url="wss://h/t" bidirectionalMode="rtp"/></Connect></Response>'
    answer = parse_texml(
        document, call_sid="v3:x", from_number="+1", to_number="+2", webhook_url="https://h/"
    )

    assert (answer.codec, answer.bidirectional_codec, answer.bidirectional_rate_hz) == (
        "default",
        "PCMU",
        8000,
    )
    assert TelnyxSimulator("https://h/").inbound_codec(answer).encoding == "PCMU"  # the call's codec
    with pytest.raises(AnswerError, match="wss"):
        parse_texml(
            document.replace("wss:", "ws:"), call_sid="v3:x", from_number="", to_number="", webhook_url=""
        )


# --- the stream -------------------------------------------------------------------------------------------


async def test_telnyx_stream_sends_snake_case_messages_dtmf_errors_and_stop(fake_server: FakeServer) -> None:
    serve_texml(fake_server)
    telnyx = simulator(fake_server, error_frames=[(0.04, TelnyxStreamError.malformed_frame())])
    audio = tone(440.0, 0.2, 8000)

    call = await telnyx.place_call(
        audio, from_number="+13122010094", to_number="+1555", dtmf=[(0.06, "7")], tail_s=0.06
    )

    log, recording = fake_server.log, call.recording
    stream_id = recording.stream_sid
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}", stream_id)
    assert log.messages[0][1] == {"event": "connected", "version": "1.0.0"}
    start = log.messages[1][1]
    assert start == {
        "event": "start",
        "sequence_number": "1",
        "start": {
            "user_id": start["start"]["user_id"],
            "call_control_id": call.answer.call_sid,
            "call_session_id": start["start"]["call_session_id"],
            "from": "+13122010094",
            "to": "+1555",
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
            "custom_parameters": {"callId": "c-1"},
        },
        "stream_id": stream_id,
    }
    media = [message for _, message in log.of("media")]
    assert len(media) == 13  # 200 ms of audio and 60 ms of tail, 20 ms each
    assert [m["media"]["chunk"] for m in media] == [str(n) for n in range(1, 14)]
    assert [m["media"]["timestamp"] for m in media] == [str(20 * n) for n in range(13)]
    assert {m["media"]["track"] for m in media} == {"inbound"}
    assert {m["stream_id"] for m in media} == {stream_id}
    assert b"".join(base64.b64decode(m["media"]["payload"]) for m in media[:10]) == ulaw_encode(audio)
    dtmf = log.of("dtmf")[0][1]
    assert dtmf["dtmf"] == {"digit": "7"}
    assert dtmf["stream_id"] == stream_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", dtmf["occurred_at"])
    error = log.of("error")[0][1]
    assert error == {
        "event": "error",
        "payload": {
            "code": 100003,
            "title": "malformed_frame",
            "detail": "Received frame was not formed correctly",
        },
        "stream_id": stream_id,
    }
    assert [message for _, message in recording.error_frames_sent] == [error]
    stop = log.messages[-1][1]
    assert stop == {
        "event": "stop",
        "sequence_number": stop["sequence_number"],
        "stop": {"user_id": start["start"]["user_id"], "call_control_id": call.answer.call_sid},
        "stream_id": stream_id,
    }
    numbered = [message["sequence_number"] for _, message in log.messages if "sequence_number" in message]
    assert numbered == [str(n) for n in range(1, len(numbered) + 1)]
    assert recording.provider == "telnyx"
    assert recording.ended_by == "simulator"


@pytest.mark.parametrize("byte_order", ["big", "little"])
async def test_telnyx_l16_goes_both_ways_in_the_configured_byte_order(
    fake_server: FakeServer, byte_order: str
) -> None:
    wire_dtype = ">i2" if byte_order == "big" else "<i2"

    async def echo(ws: ServerConnection, log: ServerLog) -> None:
        await start_of_stream(ws, log)
        while (message := await log.recv(ws))["event"] == "media":  # back at once, still L16 in that order
            await ws.send(to_text({"event": "media", "media": {"payload": message["media"]["payload"]}}))
        await log.recv_until_closed(ws)

    fake_server.handler = echo
    serve_texml(fake_server, codec="L16", out_codec="L16", out_rate=16000)
    audio = tone(1000.0, 0.2, 16000)

    call = await simulator(fake_server, l16_byte_order=byte_order).place_call(audio, tail_s=0.04)

    start = fake_server.log.of("start")[0][1]
    assert start["start"]["media_format"] == {"encoding": "L16", "sample_rate": 16000, "channels": 1}
    payloads = [base64.b64decode(m["media"]["payload"]) for _, m in fake_server.log.of("media")]
    assert {len(p) for p in payloads} == {640}  # 20 ms at 16 kHz
    assert np.array_equal(np.frombuffer(b"".join(payloads[:10]), dtype=wire_dtype), audio)
    recording = call.recording
    assert recording.violations == []
    assert recording.heard is not None
    assert recording.heard_rate_hz == 16000
    lag = delay_samples(audio, recording.heard)
    assert 0 <= lag <= 0.040 * 16000
    assert sinad_db(recording.heard[lag + 320 : lag + 2880], 1000.0, 16000) > 60.0  # bit-exact, not noise
    latencies = recording.echo_latencies_s()  # 640 bytes of L16 per 20 ms frame, not Twilio's 160
    assert len(latencies) >= 10
    assert 0.0 < min(latencies) <= max(latencies) < 0.050


async def test_telnyx_inbound_codec_can_differ_from_texml_and_outbound(fake_server: FakeServer) -> None:
    async def play_pcmu(ws: ServerConnection, log: ServerLog) -> None:
        await start_of_stream(ws, log)
        await ws.send(
            to_text({"event": "media", "media": {"payload": b64(ulaw_encode(tone(500.0, 0.16, 8000)))}})
        )
        await log.recv_until_closed(ws)

    fake_server.handler = play_pcmu
    serve_texml(fake_server, codec="L16", out_codec="PCMU", out_rate=8000)
    audio = tone(300.0, 0.1, 8000)

    call = await simulator(fake_server, inbound_codec="PCMA").place_call(audio, tail_s=0.14)

    start = fake_server.log.of("start")[0][1]
    assert start["start"]["media_format"]["encoding"] == "PCMA"  # §2.1: L16 asked for, call codec streamed
    payloads = [base64.b64decode(m["media"]["payload"]) for _, m in fake_server.log.of("media")]
    assert b"".join(payloads[:5]) == alaw_encode(audio)
    heard = call.recording.heard
    assert heard is not None
    assert call.recording.outbound_encoding == "PCMU"
    first = int(np.flatnonzero(heard)[0])
    assert sinad_db(heard[first + 160 : first + 1120], 500.0, 8000) > 30.0  # μ-law decoded as μ-law


async def test_telnyx_reordered_frames_land_at_most_two_places_off_with_their_sequence_numbers(
    fake_server: FakeServer,
) -> None:
    serve_texml(fake_server)
    audio = tone(440.0, 0.6, 8000)
    frames = [ulaw_encode(audio)[i : i + 160] for i in range(0, 4800, 160)]

    call = await simulator(fake_server, reorder_probability=0.5, reorder_seed=3).place_call(audio, tail_s=0.0)

    media = [message for _, message in fake_server.log.of("media")]
    chunks = [int(m["media"]["chunk"]) for m in media]
    assert sorted(chunks) == list(range(1, 31))
    assert chunks != sorted(chunks)
    assert max(abs(position + 1 - chunk) for position, chunk in enumerate(chunks)) <= 2
    by_sequence = sorted(media, key=lambda m: int(m["sequence_number"]))
    assert [int(m["media"]["chunk"]) for m in by_sequence] == list(range(1, 31))
    for message in media:  # each payload still travels with its own chunk number and timestamp
        chunk = int(message["media"]["chunk"])
        assert base64.b64decode(message["media"]["payload"]) == frames[chunk - 1]
        assert message["media"]["timestamp"] == str(20 * (chunk - 1))
    recording = call.recording
    assert recording.inbound_send_order == chunks
    assert len(recording.inbound_sent_at_s) == 30
    assert all(
        later >= earlier - 0.045
        for earlier, later in zip(recording.inbound_sent_at_s, recording.inbound_sent_at_s[1:], strict=False)
    )


def test_telnyx_frame_delays_are_reproducible_and_validated() -> None:
    first, second = frame_delays(0.5, 2, seed=11), frame_delays(0.5, 2, seed=11)
    delays = [first(index) for index in range(1000)]

    assert delays == [second(index) for index in range(1000)]
    assert set(delays) == {0, 1, 2}
    assert 0.4 < delays.count(0) / 1000 < 0.6
    with pytest.raises(ValueError, match="max_displacement"):
        frame_delays(0.5, 0, seed=None)


async def test_telnyx_chunks_under_20_ms_marks_clear_and_foreign_messages(fake_server: FakeServer) -> None:
    async def server(ws: ServerConnection, log: ServerLog) -> None:
        stream_id = await start_of_stream(ws, log)
        await ws.send(to_text({"event": "media", "media": {"payload": b64(bytes(80))}}))  # 10 ms: too short
        await ws.send(
            to_text({"event": "media", "stream_id": stream_id, "media": {"payload": b64(bytes(160))}})
        )
        await ws.send(to_text({"event": "mark", "mark": {"name": "after-30ms"}}))
        await ws.send(to_text({"event": "clear", "stream_id": "not-this-stream"}))
        await ws.send(to_text({"event": "playAudio", "media": {}}))
        await ws.send(
            to_text({"event": "media", "media": {"payload": b64(ulaw_encode(tone(600.0, 1.0, 8000)))}})
        )
        await ws.send(to_text({"event": "mark", "mark": {"name": "barged"}}))
        await log.recv_until(ws, mark_echo("after-30ms"))  # the 1 s tone is playing now
        await ws.send(to_text({"event": "clear"}))
        await log.recv_until_closed(ws)

    fake_server.handler = server
    serve_texml(fake_server)

    call = await simulator(fake_server).place_call(silence(0.2, 8000), tail_s=0.2)

    recording = call.recording
    reasons = [violation.reason for violation in recording.violations]
    assert len(reasons) == 3
    assert "media chunk of 10.0 ms" in reasons[0]
    assert "20 ms to 30 s" in reasons[0]
    assert "stream_id 'not-this-stream' does not match" in reasons[1]
    assert "unknown event 'playAudio'" in reasons[2]
    assert recording.outbound_media_bytes == [80, 160, 8000]  # the short chunk still plays
    assert [(mark.name, mark.cleared) for mark in recording.marks] == [
        ("after-30ms", False),
        ("barged", True),
    ]
    echoes = [message["mark"]["name"] for _, message in fake_server.log.of("mark")]
    assert echoes == ["after-30ms", "barged"]  # §2.3: clear sends back all queued marks
    assert recording.marks[1].echoed_at_s == pytest.approx(recording.clears_at_s[0], abs=0.01)
    assert len(recording.clears_at_s) == 1
    assert recording.cleared_acks_at_s == []
