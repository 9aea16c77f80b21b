"""The Plivo audio-streaming wire format, bidirectional (reference §3), message by message."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from callbridge.common.models.call import Call
from callbridge.common.models.medium import CallMedium, PlivoCodec, PlivoMedium, Provider
from callbridge.media.audio.g711 import ulaw_encode
from callbridge.media.playout import Playout
from callbridge.media.providers.base import (
    Cleared,
    Codec,
    DtmfPressed,
    Ignored,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    Started,
    Stopped,
    StreamOptions,
)
from callbridge.media.providers.plivo import PlivoMediaStream
from callbridge.media.providers.registry import detect_provider, stream_for
from tests.media.helpers import reference_ulaw_decode

STREAM_ID = "87654321-4321-4321-4321-cba987654321"
CALL = Call(call_id=uuid4(), created=datetime.now(UTC))
# §3.2, verbatim.
START: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": 1,
    "start": {
        "callId": "12345678-1234-1234-1234-123456789abc",
        "streamId": STREAM_ID,
        "accountId": "MAXXXXXXXXXXXXXXXXXX",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "userId=12345;sessionId=abc-xyz",
}


def call_with(codec: PlivoCodec | None, rate: int | None) -> Call:
    medium = CallMedium(plivo=PlivoMedium(codec=codec, sample_rate=rate))  # type: ignore[arg-type]  # Literal rate
    return Call(call_id=uuid4(), created=datetime.now(UTC), medium=medium)


def start_with(encoding: str, rate: int | None) -> dict[str, Any]:
    start: dict[str, Any] = orjson.loads(orjson.dumps(START))
    start["start"]["mediaFormat"] = (
        {"encoding": encoding} if rate is None else {"encoding": encoding, "sampleRate": rate}
    )
    return start


def started(encoding: str = "audio/x-mulaw", rate: int | None = 8000, call: Call = CALL) -> PlivoMediaStream:
    stream = PlivoMediaStream(call, StreamOptions())
    assert isinstance(stream.parse(orjson.dumps(start_with(encoding, rate))), Started)
    return stream


def media(payload: bytes, track: str = "inbound") -> bytes:
    return orjson.dumps(
        {
            "event": "media",
            "sequenceNumber": 2,
            "streamId": STREAM_ID,
            "media": {
                "track": track,
                "timestamp": "1240",
                "chunk": 1,
                "payload": base64.b64encode(payload).decode(),
            },
            "extra_headers": "userId=12345",
        }
    )


def tone(rate_hz: int, ms: int = 20) -> npt.NDArray[np.int16]:
    t = np.arange(rate_hz * ms // 1000) / rate_hz
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def test_start_comes_first_and_gives_the_stream_parameters() -> None:
    stream = PlivoMediaStream(CALL, StreamOptions())
    parsed = stream.parse(orjson.dumps(START))
    assert isinstance(parsed, Started)
    info = parsed.info
    assert info.stream_id == STREAM_ID
    assert info.call_id == "12345678-1234-1234-1234-123456789abc"
    assert info.account_id == "MAXXXXXXXXXXXXXXXXXX"
    assert (info.codec, info.sample_rate_hz, info.out_codec, info.out_rate_hz) == (
        Codec.PCMU,
        8000,
        Codec.PCMU,
        8000,
    )
    assert stream.info == info


def test_mulaw_media_is_decoded_bit_exact() -> None:
    stream = started()
    codes = ulaw_encode(tone(8000))
    parsed = stream.parse(media(codes))
    assert isinstance(parsed, MediaReceived)
    np.testing.assert_array_equal(parsed.pcm, reference_ulaw_decode(codes))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_l16_media_is_little_endian(rate: int) -> None:
    stream = started("audio/x-l16", rate)
    pcm = tone(rate)
    parsed = stream.parse(media(pcm.astype("<i2").tobytes()))
    assert isinstance(parsed, MediaReceived)
    np.testing.assert_array_equal(parsed.pcm, pcm)


def test_rate_may_come_with_the_encoding_as_in_the_xml_content_type() -> None:
    stream = started("audio/x-l16;rate=16000", None)
    assert stream.info is not None
    assert (stream.info.codec, stream.info.sample_rate_hz) == (Codec.L16, 16000)


@pytest.mark.parametrize(
    ("encoding", "rate"),
    [("audio/x-mulaw", 16000), ("audio/x-l16", 24000), ("audio/x-alaw", 8000), ("audio/x-l16", None)],
)
def test_undocumented_formats_are_refused(encoding: str, rate: int | None) -> None:
    with pytest.raises(ProtocolError, match="unsupported Plivo media format"):
        PlivoMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start_with(encoding, rate)))


def test_dtmf_played_checkpoints_cleared_audio_and_stop() -> None:
    stream = started()
    assert stream.parse(
        '{"event":"dtmf","sequenceNumber":9,"streamId":"x","dtmf":{"track":"inbound","digit":"5","timestamp":"5120"}}'
    ) == DtmfPressed("5")
    assert stream.parse(
        '{"event":"playedStream","sequenceNumber":12,"streamId":"x","name":"3.17"}'
    ) == MarkPlayed("3.17")
    assert stream.parse('{"event":"played","sequenceNumber":13,"streamId":"x","name":"3.18"}') == MarkPlayed(
        "3.18"
    )
    assert stream.parse('{"sequenceNumber":0,"event":"clearedAudio","streamId":"x"}') == Cleared()
    assert isinstance(
        stream.parse('{"event":"stop","sequenceNumber":20,"streamId":"x","reason":"hangup"}'), Stopped
    )


def test_outbound_track_media_is_ignored() -> None:
    assert isinstance(started().parse(media(b"\xff" * 160, track="outbound")), Ignored)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        '{"event":"connected"}',  # Plivo has none (§3.2)
        '{"event":"media","media":{"payload":"!!!"}}',
        '{"event":"media"}',
        '{"event":"playedStream","streamId":"x"}',
        '{"event":"dtmf","dtmf":{"digit":"X"}}',
        orjson.dumps(START).decode(),  # a second start
    ],
)
def test_malformed_messages_raise_protocol_error(message: str) -> None:
    with pytest.raises(ProtocolError):
        started().parse(message)


def test_media_before_start_and_unsafe_stream_ids_are_refused() -> None:
    with pytest.raises(ProtocolError, match="before start"):
        PlivoMediaStream(CALL, StreamOptions()).parse(media(b"\xff" * 160))
    start = start_with("audio/x-mulaw", 8000)
    start["start"]["streamId"] = 'a"b'
    with pytest.raises(ProtocolError, match="streamId"):
        PlivoMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))


def test_outbound_messages_have_plivo_shapes() -> None:
    stream = started()
    pcm = tone(8000)
    assert orjson.loads(stream.media_message(pcm)) == {
        "event": "playAudio",
        "media": {
            "contentType": "audio/x-mulaw",
            "sampleRate": 8000,
            "payload": base64.b64encode(ulaw_encode(pcm)).decode(),
        },
    }
    assert orjson.loads(stream.mark_message("3.17")) == {
        "event": "checkpoint",
        "streamId": STREAM_ID,
        "name": "3.17",
    }
    assert orjson.loads(stream.clear_message()) == {"event": "clearAudio", "streamId": STREAM_ID}
    with pytest.raises(ProtocolError):
        stream.mark_message("bad name")


@pytest.mark.parametrize(
    ("call", "encoding", "rate", "content_type", "out_rate"),
    [
        (CALL, "audio/x-l16", 16000, "audio/x-l16", 16000),  # no medium: what arrives
        (CALL, "audio/x-l16", 8000, "audio/x-l16", 8000),
        (call_with(PlivoCodec.L16, 16000), "audio/x-l16", 16000, "audio/x-l16", 16000),
        (call_with(PlivoCodec.PCMU, 8000), "audio/x-mulaw", 8000, "audio/x-mulaw", 8000),
        (call_with(PlivoCodec.L16, None), "audio/x-l16", 16000, "audio/x-l16", 16000),
        (call_with(None, None), "audio/x-mulaw", 8000, "audio/x-mulaw", 8000),
        # The record wins over what arrives (and a warning is logged): playAudio says what it carries.
        (call_with(PlivoCodec.L16, 16000), "audio/x-mulaw", 8000, "audio/x-l16", 16000),
    ],
)
def test_play_audio_content_type_and_rate_match_the_stream(
    call: Call, encoding: str, rate: int, content_type: str, out_rate: int
) -> None:
    stream = started(encoding, rate, call=call)
    assert stream.info is not None
    assert stream.info.out_rate_hz == out_rate
    pcm = tone(out_rate)
    message = orjson.loads(stream.media_message(pcm))["media"]
    assert (message["contentType"], message["sampleRate"]) == (content_type, out_rate)
    payload = base64.b64decode(message["payload"])
    if content_type == "audio/x-l16":
        assert payload == pcm.astype("<i2").tobytes()
    else:
        assert payload == ulaw_encode(pcm)


async def test_cleared_audio_resolves_pending_checkpoints_as_not_played() -> None:
    stream = started()
    sent: list[dict[str, Any]] = []

    async def send(message: str) -> bool:
        sent.append(orjson.loads(message))
        return True

    playout = Playout(stream, send, lead_ms=100)
    await playout.play(np.zeros(160, dtype=np.int16))
    await playout.play(np.zeros(160, dtype=np.int16))
    checkpoints = [m["name"] for m in sent if m["event"] == "checkpoint"]
    assert checkpoints == ["0.1", "0.2"]
    await playout.clear()
    assert sent[-1] == {"event": "clearAudio", "streamId": STREAM_ID}
    assert not await playout.wait_drained(0.01)  # the checkpoints are still pending
    assert isinstance(stream.parse('{"event":"clearedAudio","streamId":"x"}'), Cleared)
    playout.on_cleared()
    assert await playout.wait_drained(0.01)


def test_detect_provider_recognises_the_plivo_start() -> None:
    assert detect_provider(START) is Provider.PLIVO
    assert isinstance(stream_for(Provider.PLIVO, CALL, StreamOptions()), PlivoMediaStream)
