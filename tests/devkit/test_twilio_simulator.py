"""The Twilio simulator against a small fake callbridge: a real HTTP webhook and a real WebSocket server.

The fake checks signatures with the official SDK's RequestValidator, answers TwiML and runs a per-test
stream handler (echo, marks, clear, early close) so the tests observe what a callbridge server would.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callbridge.devkit.signals import chirp, delay_samples, silence, sinad_db, tone, write_wav
from callbridge.devkit.simulators.errors import StreamConnectError, TwiMLError, WebhookRejectedError
from callbridge.devkit.simulators.playout import PlayoutBuffer
from callbridge.devkit.simulators.twilio import CallerAudio, TwilioSimulator
from callbridge.devkit.simulators.twiml import parse_twiml
from callbridge.media.audio.g711 import ulaw_encode
from tests.devkit.fake_provider_server import ServerLog, media_chunk_at_least

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
RATE_HZ = 8000
FRAME_S = 0.020
TIMEOUT_S = 10.0

StreamHandler = Callable[[ServerConnection, "ServerLog"], Awaitable[None]]


@dataclass
class FakeCallbridge:
    webhook_url: str
    stream_url: str
    handler: StreamHandler | None = None
    webhook_params: list[dict[str, str]] = field(default_factory=list)
    upgrade_signature_valid: list[bool] = field(default_factory=list)
    log: ServerLog = field(default_factory=ServerLog)

    def simulator(self, auth_token: str = AUTH_TOKEN) -> TwilioSimulator:
        # No TLS in tests: the TwiML points at ws://, which real Twilio would refuse (error 31922).
        return TwilioSimulator(self.webhook_url, auth_token, ACCOUNT_SID, allow_insecure_ws=True)


def twiml_for(stream_url: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f'<Stream url="{stream_url}" name="agent"><Parameter name="session" value="abc123"/>'
        '<Parameter name="tenant" value="t-1"/></Stream></Connect><Hangup/></Response>'
    )


@pytest.fixture
async def fake_callbridge() -> AsyncIterator[FakeCallbridge]:
    validator = RequestValidator(AUTH_TOKEN)
    holder: list[FakeCallbridge] = []

    async def handle_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fake = holder[0]
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await reader.readline()  # request line
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                params = dict(parse_qsl(body.decode(), keep_blank_values=True))
                fake.webhook_params.append(params)
                if validator.validate(fake.webhook_url, params, headers.get("x-twilio-signature", "")):
                    status, text = "200 OK", twiml_for(fake.stream_url)
                else:
                    status, text = "403 Forbidden", "invalid X-Twilio-Signature"
                payload = text.encode()
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {len(payload)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    async def handle_ws(ws: ServerConnection) -> None:
        fake = holder[0]
        assert ws.request is not None
        signature = ws.request.headers.get("X-Twilio-Signature", "")
        fake.upgrade_signature_valid.append(validator.validate(fake.stream_url, {}, signature))
        if fake.handler is not None:
            await fake.handler(ws, fake.log)

    http_server = await asyncio.start_server(handle_http, "127.0.0.1", 0)
    async with http_server, serve(handle_ws, "127.0.0.1", 0, compression=None) as ws_server:
        http_port = http_server.sockets[0].getsockname()[1]
        ws_port = next(iter(ws_server.sockets)).getsockname()[1]
        holder.append(
            FakeCallbridge(
                webhook_url=f"http://127.0.0.1:{http_port}/twilio/voice",
                stream_url=f"ws://127.0.0.1:{ws_port}/twilio/media",
            )
        )
        yield holder[0]


async def start_of_stream(ws: ServerConnection, log: ServerLog) -> str:
    """Read `connected` and `start`; return the streamSid."""
    await log.recv(ws)
    start = await log.recv(ws)
    return str(start["streamSid"])


def to_text(message: dict[str, Any]) -> str:
    """JSON as a text frame, as Twilio expects (bytes would go out as a binary frame)."""
    return orjson.dumps(message).decode()


def media_message(stream_sid: str, ulaw: bytes) -> str:
    return to_text(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(ulaw).decode()}}
    )


def mark_message(stream_sid: str, name: str) -> str:
    return to_text({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


# --- webhook and TwiML ------------------------------------------------------------------------------------


def test_signature_matches_the_documented_test_vector() -> None:
    # /work/shared/reference/provider-protocols.md §5.1.
    simulator = TwilioSimulator("https://unused.example.com/", "12345", ACCOUNT_SID)
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }

    assert (
        simulator.sign("https://mycompany.com/myapp.php?foo=1&bar=2", params)
        == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


async def test_incoming_call_is_signed_so_the_sdk_validates_it(fake_callbridge: FakeCallbridge) -> None:
    answer = await fake_callbridge.simulator().incoming_call(
        from_number="+15550001111", to_number="+15550002222"
    )

    params = fake_callbridge.webhook_params[0]
    assert re.fullmatch(r"CA[0-9a-f]{32}", params["CallSid"])
    assert params == {
        "CallSid": answer.call_sid,
        "AccountSid": ACCOUNT_SID,
        "From": "+15550001111",
        "To": "+15550002222",
        "Caller": "+15550001111",
        "Called": "+15550002222",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    assert answer.stream_url == fake_callbridge.stream_url
    assert answer.parameters == {"session": "abc123", "tenant": "t-1"}
    assert answer.stream_name == "agent"
    assert answer.hangup_follows


async def test_extra_params_are_posted_and_signed(fake_callbridge: FakeCallbridge) -> None:
    await fake_callbridge.simulator().incoming_call(
        from_number="+15550001111", to_number="+15550002222", extra_params={"CallerName": "Jane Doe"}
    )

    assert fake_callbridge.webhook_params[0]["CallerName"] == "Jane Doe"


async def test_webhook_signed_with_wrong_token_is_rejected_with_status_and_body(
    fake_callbridge: FakeCallbridge,
) -> None:
    simulator = fake_callbridge.simulator(auth_token="not-the-token")

    with pytest.raises(WebhookRejectedError) as excinfo:
        await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")

    assert excinfo.value.status_code == 403
    assert excinfo.value.body == "invalid X-Twilio-Signature"


def test_twiml_without_hangup_is_parsed_and_says_so() -> None:
    twiml = (
        '<Response><Connect><Stream url="wss://gw.example.com/m"/></Connect><Pause length="5"/></Response>'
    )

    answer = parse_twiml(twiml, call_sid="CA1", webhook_url="https://gw.example.com/voice")

    assert answer.stream_url == "wss://gw.example.com/m"
    assert answer.parameters == {}
    assert not answer.hangup_follows
    assert answer.verbs_after_connect == ("Pause",)


def test_twiml_relative_stream_url_resolves_against_the_webhook_as_wss() -> None:
    twiml = '<Response><Connect><Stream url="/twilio/media"/></Connect><Hangup/></Response>'

    answer = parse_twiml(twiml, call_sid="CA1", webhook_url="https://gw.example.com/twilio/voice")

    assert answer.stream_url == "wss://gw.example.com/twilio/media"


@pytest.mark.parametrize(
    ("twiml", "message"),
    [
        ('<Response><Connect><Stream url="ws://h/m"/></Connect></Response>', "wss://"),
        ('<Response><Connect><Stream url="wss://h/m?token=1"/></Connect></Response>', "query string"),
        ('<Response><Say>Hi</Say><Connect><Stream url="wss://h/m"/></Connect></Response>', "<Say>"),
        ("<Response><Hangup/></Response>", "no <Connect>"),
        ("<Response><Connect/></Response>", "exactly one <Stream>"),
        (
            '<Response><Connect><Stream url="wss://h/m"><Parameter name="a"/></Stream></Connect></Response>',
            "value",
        ),
        ("<Respons", "well-formed"),
        ('<Reply><Connect><Stream url="wss://h/m"/></Connect></Reply>', "<Response>"),
    ],
)
def test_twiml_twilio_would_refuse_raises_a_clear_error(twiml: str, message: str) -> None:
    with pytest.raises(TwiMLError, match=re.escape(message)):
        parse_twiml(twiml, call_sid="CA1", webhook_url="https://h/voice")


# --- the playout buffer (no network) ----------------------------------------------------------------------


def test_playout_mark_falls_due_when_the_audio_before_it_has_played() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(tick_samples=160)

    playout.enqueue_audio(160, b"\x01" * 400)  # arrives on a tick: plays 160..560
    assert not playout.enqueue_mark(200, "a")

    assert playout.pop_played_marks(559) == []
    assert playout.pop_played_marks(560) == ["a"]


def test_playout_mark_with_nothing_buffered_is_due_at_once() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer()

    assert playout.enqueue_mark(0, "first")
    playout.enqueue_audio(0, b"\x01" * 160)
    assert playout.enqueue_mark(160, "after-played")


def test_playout_audio_reaching_an_empty_buffer_starts_on_the_next_tick() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(tick_samples=160)

    playout.enqueue_audio(170, b"\x01" * 160)  # late for the tick at 160: waits for 320
    playout.enqueue_audio(330, b"\x02" * 160)  # buffer not empty: follows at 480 without a gap

    heard = playout.heard_ulaw(700)
    assert heard == b"\xff" * 320 + b"\x01" * 160 + b"\x02" * 160 + b"\xff" * 60


def test_playout_clear_drops_unplayed_audio_and_returns_pending_marks() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer()
    playout.enqueue_audio(0, b"\x01" * 1600)
    playout.enqueue_mark(0, "one")
    playout.enqueue_audio(0, b"\x02" * 1600)
    playout.enqueue_mark(0, "two")

    assert playout.clear(800) == ["one", "two"]
    assert playout.buffered_samples(800) == 0
    assert playout.heard_ulaw(1000) == b"\x01" * 800 + b"\xff" * 200
    assert playout.enqueue_mark(800, "three")  # nothing buffered any more


def test_playout_end_stops_playing_and_returns_unechoed_marks() -> None:
    playout: PlayoutBuffer[str] = PlayoutBuffer(record_heard=False)
    playout.enqueue_audio(0, b"\x01" * 1600)
    playout.enqueue_mark(0, "goodbye")

    assert playout.end(480) == ["goodbye"]
    playout.enqueue_audio(500, b"\x01" * 160)
    assert playout.buffered_samples(500) == 0
    assert playout.heard_ulaw(1000) is None


# --- the media stream -------------------------------------------------------------------------------------


async def test_stream_sends_connected_start_paced_media_dtmf_and_stop(
    fake_callbridge: FakeCallbridge,
) -> None:
    fake_callbridge.handler = lambda ws, log: log.recv_until_closed(ws)
    simulator = fake_callbridge.simulator()
    audio = tone(440.0, 0.3, RATE_HZ)

    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
    recording = await simulator.stream(answer, audio, dtmf=[(0.1, "5")], tail_s=0.1)

    log = fake_callbridge.log
    assert fake_callbridge.upgrade_signature_valid == [True]
    assert log.messages[0][1] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = log.messages[1][1]
    assert re.fullmatch(r"MZ[0-9a-f]{32}", start["streamSid"])
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT_SID,
            "streamSid": start["streamSid"],
            "callSid": answer.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"session": "abc123", "tenant": "t-1"},
        },
        "streamSid": start["streamSid"],
    }
    sequence = [message["sequenceNumber"] for _, message in log.messages[1:]]
    assert sequence == [str(n) for n in range(1, len(log.messages))]

    media = log.of("media")
    assert len(media) == 15 + 5  # 300 ms of audio + 100 ms of tail, 20 ms each
    assert [m["media"]["chunk"] for _, m in media] == [str(n) for n in range(1, 21)]
    assert [m["media"]["timestamp"] for _, m in media] == [str(20 * n) for n in range(20)]
    assert {m["media"]["track"] for _, m in media} == {"inbound"}
    assert {m["streamSid"] for _, m in media} == {start["streamSid"]}
    payloads = [base64.b64decode(m["media"]["payload"]) for _, m in media]
    assert {len(p) for p in payloads} == {160}
    assert b"".join(payloads[:15]) == ulaw_encode(audio)
    assert set(b"".join(payloads[15:])) == {0xFF}  # μ-law silence in the tail

    arrivals = np.array([at for at, _ in media])
    spacing_s = np.diff(arrivals)
    assert float(np.mean(spacing_s)) == pytest.approx(FRAME_S, abs=0.001)
    assert arrivals[-1] - arrivals[0] == pytest.approx(19 * FRAME_S, abs=0.010)  # absolute clock: no drift

    dtmf = log.of("dtmf")[0][1]
    assert dtmf == {
        "event": "dtmf",
        "streamSid": start["streamSid"],
        "sequenceNumber": dtmf["sequenceNumber"],
        "dtmf": {"track": "inbound_track", "digit": "5"},
    }
    assert log.events().index("dtmf") == 2 + 5  # sent just before the frame due at 100 ms

    stop = log.messages[-1][1]
    assert stop == {
        "event": "stop",
        "sequenceNumber": str(len(log.messages) - 1),
        "stop": {"accountSid": ACCOUNT_SID, "callSid": answer.call_sid},
        "streamSid": start["streamSid"],
    }
    assert recording.ended_by == "simulator"
    assert recording.close_code == 1000
    assert recording.frames_sent == 20
    assert recording.stop_sent_at_s == pytest.approx(20 * FRAME_S, abs=0.015)
    assert recording.dtmf_sent[0][1] == "5"


async def test_heard_audio_is_time_aligned_with_the_servers_echo_delay(
    fake_callbridge: FakeCallbridge,
) -> None:
    echo_delay_s = 0.100
    echo_lateness_s: list[float] = []

    async def echo_with_delay(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=1000)

        async def send_echoes() -> None:
            while True:
                due, ulaw = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))  # simulated: the server's echo delay
                echo_lateness_s.append(time.monotonic() - due)
                await ws.send(media_message(stream_sid, ulaw))

        sender = asyncio.create_task(send_echoes(), name="echo-sender")
        try:
            while (message := await log.recv(ws))["event"] == "media":
                ulaw = base64.b64decode(message["media"]["payload"])
                queue.put_nowait((time.monotonic() + echo_delay_s, ulaw))
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    fake_callbridge.handler = echo_with_delay
    audio = np.concatenate((chirp(300.0, 3400.0, 0.3, RATE_HZ), tone(1000.0, 0.3, RATE_HZ, dbfs=-6.0)))

    call = await fake_callbridge.simulator().place_call(audio, tail_s=0.3)

    recording = call.recording
    assert recording.heard is not None
    assert len(recording.heard) == pytest.approx(recording.ended_at_s * RATE_HZ, abs=1)
    lag = delay_samples(recording.sent_audio, recording.heard)
    # Playout starts on the provider's 20 ms clock, so the heard delay is the echo delay plus up to one frame,
    # plus what a loaded machine made either side late by (measured: the caller's frames behind their
    # schedule, the echoes behind theirs), never more.
    late_s = recording.max_send_lateness_s + max(echo_lateness_s)
    assert echo_delay_s * RATE_HZ <= lag <= (echo_delay_s + FRAME_S + 0.005 + late_s) * RATE_HZ
    echoed_tone = recording.heard[lag + 2400 + 400 : lag + 4800 - 400]
    assert sinad_db(echoed_tone, 1000.0, RATE_HZ) > 30.0  # μ-law alone allows ~38 dB; gaps would ruin it
    latencies = recording.echo_latencies_s()
    # The last 100 ms (5 frames) of echoes were still in the server's queue when the call stopped.
    assert recording.frames_sent - 6 <= len(latencies) <= recording.frames_sent - 4
    assert float(np.median(latencies)) == pytest.approx(echo_delay_s, abs=0.008)
    assert set(recording.outbound_media_bytes) == {160}


async def test_mark_is_echoed_after_its_audio_played_or_at_once_when_nothing_is_buffered(
    fake_callbridge: FakeCallbridge,
) -> None:
    sent_at: dict[str, float] = {}

    async def marks(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        sent_at["empty"] = time.monotonic()
        await ws.send(mark_message(stream_sid, "empty"))
        # 400 ms of audio in one message, then a mark behind it.
        await ws.send(media_message(stream_sid, ulaw_encode(tone(500.0, 0.4, RATE_HZ))))
        sent_at["played"] = time.monotonic()
        await ws.send(mark_message(stream_sid, "played"))
        await log.recv_until_closed(ws)

    fake_callbridge.handler = marks

    call = await fake_callbridge.simulator().place_call(silence(0.1, RATE_HZ), tail_s=0.6)

    echoes = {message["mark"]["name"]: (at, message) for at, message in fake_callbridge.log.of("mark")}
    assert echoes["empty"][0] - sent_at["empty"] < 0.030
    # 400 ms of playout, started on the next 20 ms tick.
    assert 0.400 <= echoes["played"][0] - sent_at["played"] <= 0.400 + FRAME_S + 0.015
    stream_sid = call.recording.stream_sid
    assert echoes["played"][1] == {
        "event": "mark",
        "sequenceNumber": echoes["played"][1]["sequenceNumber"],
        "streamSid": stream_sid,
        "mark": {"name": "played"},
    }
    assert [(m.name, m.cleared) for m in call.recording.marks] == [("empty", False), ("played", False)]
    assert call.recording.outbound_media_bytes == [3200]


async def test_clear_drops_buffered_audio_and_echoes_pending_marks_at_once(
    fake_callbridge: FakeCallbridge,
) -> None:
    clear_sent_at: list[float] = []

    async def barge_in(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        await ws.send(media_message(stream_sid, ulaw_encode(tone(700.0, 2.0, RATE_HZ))))  # 2 s buffered
        await ws.send(mark_message(stream_sid, "utterance-1"))
        await log.recv_until(ws, media_chunk_at_least(16))  # 300 ms into the call, the tone playing
        clear_sent_at.append(time.monotonic())
        await ws.send(to_text({"event": "clear", "streamSid": stream_sid}))
        await log.recv_until_closed(ws)

    fake_callbridge.handler = barge_in

    call = await fake_callbridge.simulator().place_call(silence(0.2, RATE_HZ), tail_s=0.5)

    recording = call.recording
    mark_echoes = fake_callbridge.log.of("mark")
    assert [message["mark"]["name"] for _, message in mark_echoes] == ["utterance-1"]
    assert mark_echoes[0][0] - clear_sent_at[0] < 0.030
    assert recording.marks[0].cleared
    assert len(recording.clears_at_s) == 1
    assert recording.heard is not None
    clear_sample = round(recording.clears_at_s[0] * RATE_HZ)
    assert np.abs(recording.heard[clear_sample - 800 : clear_sample]).max() > 1000  # playing until the clear
    assert not recording.heard[clear_sample:].any()  # silent after it


async def test_server_closing_first_ends_the_call_without_stop(fake_callbridge: FakeCallbridge) -> None:
    async def hang_up_early(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        await ws.send(media_message(stream_sid, ulaw_encode(tone(700.0, 1.0, RATE_HZ))))
        await ws.send(mark_message(stream_sid, "goodbye"))
        await log.recv_until(ws, media_chunk_at_least(11))  # 200 ms into the call
        await ws.close(code=4000, reason="agent hung up")

    fake_callbridge.handler = hang_up_early

    call = await fake_callbridge.simulator().place_call(tone(300.0, 1.0, RATE_HZ))

    recording = call.recording
    assert recording.ended_by == "server"
    assert recording.close_code == 4000
    assert recording.close_reason == "agent hung up"
    assert recording.ended_at_s == pytest.approx(0.2, abs=0.030)
    assert recording.stop_sent_at_s is None
    assert "stop" not in fake_callbridge.log.events()
    assert 8 <= recording.frames_sent <= 13
    assert [m.name for m in recording.unechoed_marks] == ["goodbye"]
    assert recording.heard is not None
    assert len(recording.heard) == pytest.approx(0.2 * RATE_HZ, abs=0.030 * RATE_HZ)


async def test_protocol_violations_are_recorded_and_the_call_goes_on(fake_callbridge: FakeCallbridge) -> None:
    async def misbehave(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        await ws.send(to_text({"event": "playAudio", "streamSid": stream_sid}))
        await ws.send(to_text({"event": "clear", "streamSid": "MZwrong"}))
        await ws.send(to_text({"event": "media", "streamSid": stream_sid, "media": {"payload": "@@not b64"}}))
        await ws.send(media_message(stream_sid, b"RIFF\x00\x00\x00\x00WAVE"))
        await ws.send(to_text({"event": "mark", "streamSid": stream_sid, "mark": {}}))
        await ws.send(b"\x00\x01")
        await ws.send("{not json")
        await log.recv_until_closed(ws)

    fake_callbridge.handler = misbehave

    call = await fake_callbridge.simulator().place_call(silence(0.1, RATE_HZ), tail_s=0.1)

    reasons = [violation.reason for violation in call.recording.violations]
    assert len(reasons) == 7
    assert "unknown event 'playAudio'" in reasons[0]
    assert "streamSid 'MZwrong' does not match" in reasons[1]
    assert "not valid base64" in reasons[2]
    assert "RIFF" in reasons[3]
    assert "mark.name" in reasons[4]
    assert "binary frame" in reasons[5]
    assert "not valid JSON" in reasons[6]
    assert call.recording.clears_at_s == []
    assert call.recording.ended_by == "simulator"
    assert fake_callbridge.log.events()[-1] == "stop"


async def test_hang_up_after_cuts_the_call_at_that_time(fake_callbridge: FakeCallbridge) -> None:
    fake_callbridge.handler = lambda ws, log: log.recv_until_closed(ws)

    call = await fake_callbridge.simulator().place_call(tone(300.0, 2.0, RATE_HZ), hang_up_after_s=0.2)

    assert call.recording.frames_sent == 10
    assert call.recording.stop_sent_at_s == pytest.approx(0.2, abs=0.015)
    assert fake_callbridge.log.events()[-1] == "stop"


async def test_lean_mode_keeps_timings_but_not_heard_audio_or_media_messages(
    fake_callbridge: FakeCallbridge,
) -> None:
    async def one_media(ws: ServerConnection, log: ServerLog) -> None:
        stream_sid = await start_of_stream(ws, log)
        await ws.send(media_message(stream_sid, bytes(320)))
        await ws.send(mark_message(stream_sid, "m"))
        await log.recv_until_closed(ws)

    fake_callbridge.handler = one_media
    shared_audio = CallerAudio.from_pcm(tone(300.0, 0.1, RATE_HZ))

    call = await fake_callbridge.simulator().place_call(
        shared_audio, tail_s=0.1, record_heard=False, record_media_messages=False
    )

    assert call.recording.heard is None
    assert [message.event for message in call.recording.received] == ["mark"]
    assert call.recording.outbound_media_bytes == [320]
    assert call.recording.frames_sent == 10


async def test_wav_file_is_streamed_and_must_be_8_khz(
    fake_callbridge: FakeCallbridge, tmp_path: Path
) -> None:
    fake_callbridge.handler = lambda ws, log: log.recv_until_closed(ws)
    audio = tone(440.0, 0.1, RATE_HZ)
    write_wav(tmp_path / "caller.wav", audio, RATE_HZ)
    write_wav(tmp_path / "wideband.wav", audio, 16000)
    simulator = fake_callbridge.simulator()

    call = await simulator.place_call(tmp_path / "caller.wav", tail_s=0.0)
    with pytest.raises(ValueError, match="16000 Hz"):
        await simulator.place_call(tmp_path / "wideband.wav")

    payloads = [base64.b64decode(m["media"]["payload"]) for _, m in fake_callbridge.log.of("media")]
    assert b"".join(payloads) == ulaw_encode(audio)
    assert call.recording.frames_sent == 5


async def test_unreachable_stream_raises_stream_connect_error(fake_callbridge: FakeCallbridge) -> None:
    simulator = fake_callbridge.simulator()
    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
    unreachable = parse_twiml(
        twiml_for("ws://127.0.0.1:1/twilio/media"),
        call_sid=answer.call_sid,
        webhook_url=fake_callbridge.webhook_url,
        allow_insecure_ws=True,
    )

    with pytest.raises(StreamConnectError):
        await simulator.stream(unreachable, silence(0.1, RATE_HZ))


async def test_invalid_dtmf_digit_is_refused_before_dialling(fake_callbridge: FakeCallbridge) -> None:
    simulator = fake_callbridge.simulator()
    answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")

    with pytest.raises(ValueError, match="DTMF"):
        await simulator.stream(answer, silence(0.1, RATE_HZ), dtmf=[(0.0, "x")])
