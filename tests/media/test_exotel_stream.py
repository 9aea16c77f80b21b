"""The Exotel voice-streaming wire format, bidirectional (reference §4), message by message."""

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
from callbridge.common.models.medium import CallMedium, ExotelMedium, Provider
from callbridge.media.audio.g711 import ulaw_encode
from callbridge.media.providers.base import (
    Codec,
    Connected,
    DtmfPressed,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    Started,
    Stopped,
    StreamOptions,
)
from callbridge.media.providers.exotel import ExotelMediaStream, chunk_problem
from callbridge.media.providers.registry import detect_provider, stream_for
from tests.media.helpers import reference_ulaw_decode

STREAM_SID = "b2f1c3d4e5"
CALL = Call(call_id=uuid4(), created=datetime.now(UTC))
# §4.2, verbatim but for the elided ids.
START: dict[str, Any] = {
    "event": "start",
    "sequence_number": "1",
    "stream_sid": STREAM_SID,
    "start": {
        "stream_sid": STREAM_SID,
        "call_sid": "a1b2c3",
        "account_sid": "exotel_sid",
        "from": "09845011223",
        "to": "08012345678",
        "custom_parameters": {"campaign_id": "12345"},
        "media_format": {"encoding": "base64", "sample_rate": "8000", "bit_rate": "128kbps"},
    },
}


def call_with(rate: int | None) -> Call:
    medium = CallMedium(exotel=ExotelMedium(sample_rate=rate))  # type: ignore[arg-type]  # Literal rate
    return Call(call_id=uuid4(), created=datetime.now(UTC), medium=medium)


def start_with(**media_format: Any) -> dict[str, Any]:
    start: dict[str, Any] = orjson.loads(orjson.dumps(START))
    start["start"]["media_format"] = media_format
    return start


def started(call: Call = CALL, **media_format: Any) -> ExotelMediaStream:
    stream = ExotelMediaStream(call, StreamOptions())
    message = start_with(**media_format) if media_format else START
    assert isinstance(stream.parse(orjson.dumps(message)), Started)
    return stream


def media(payload: bytes) -> bytes:
    return orjson.dumps(
        {
            "event": "media",
            "sequence_number": "2",
            "stream_sid": STREAM_SID,
            "media": {"chunk": "1", "timestamp": "100", "payload": base64.b64encode(payload).decode()},
        }
    )


def tone(rate_hz: int, ms: int) -> npt.NDArray[np.int16]:
    t = np.arange(rate_hz * ms // 1000) / rate_hz
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


def test_connected_and_start_give_the_stream_parameters() -> None:
    stream = ExotelMediaStream(CALL, StreamOptions())
    assert isinstance(
        stream.parse('{"event":"connected","protocol":"Exotel Media Stream","version":"1.0.0"}'), Connected
    )
    parsed = stream.parse(orjson.dumps(START))
    assert isinstance(parsed, Started)
    info = parsed.info
    assert (info.stream_id, info.call_id, info.account_id) == (STREAM_SID, "a1b2c3", "exotel_sid")
    assert (info.codec, info.sample_rate_hz, info.out_codec, info.out_rate_hz) == (
        Codec.L16,
        8000,
        Codec.L16,
        8000,
    )
    assert stream.info == info


@pytest.mark.parametrize(
    ("media_format", "rate"),
    [
        ({"encoding": "base64", "sample_rate": "8000", "bit_rate": "128kbps"}, 8000),
        ({"encoding": "slin", "sample_rate": "16000Hz", "bit_rate": 16}, 16000),
        ({"encoding": "linear16", "sample_rate": 24000}, 24000),
        ({"encoding": "linear16", "sample_rate": " 16000 hz "}, 16000),
        ({"encoding": "linear16", "sample_rate": "16k"}, 16000),
        ({"sample_rate": 16000.0}, 16000),
        ({}, 8000),  # Exotel's default without ?sample-rate= (§4.1)
    ],
)
def test_lenient_start_sample_rates(media_format: dict[str, Any], rate: int) -> None:
    stream = started(**media_format) if media_format else ExotelMediaStream(CALL, StreamOptions())
    if not media_format:
        start = orjson.loads(orjson.dumps(START))
        del start["start"]["media_format"]
        assert isinstance(stream.parse(orjson.dumps(start)), Started)
    assert stream.info is not None
    assert (stream.info.codec, stream.info.sample_rate_hz) == (Codec.L16, rate)


def test_without_a_rate_in_start_the_calls_medium_rate_applies() -> None:
    stream = started(call_with(16000), encoding="base64")
    assert stream.info is not None
    assert (stream.info.sample_rate_hz, stream.info.out_rate_hz) == (16000, 16000)


@pytest.mark.parametrize("where", ["top", "nested", "both"])
def test_stream_sid_at_the_top_or_inside_start(where: str) -> None:
    start = orjson.loads(orjson.dumps(START))
    if where == "top":
        del start["start"]["stream_sid"]
    elif where == "nested":
        del start["stream_sid"]
    assert detect_provider(start) is Provider.EXOTEL
    parsed = ExotelMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))
    assert isinstance(parsed, Started)
    assert parsed.info.stream_id == STREAM_SID


def test_numeric_ids_are_read_as_text() -> None:
    start = orjson.loads(orjson.dumps(START))
    start["start"]["call_sid"] = 123456
    start["stream_sid"] = start["start"]["stream_sid"] = 987
    parsed = ExotelMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))
    assert isinstance(parsed, Started)
    assert (parsed.info.call_id, parsed.info.stream_id) == ("123456", "987")


@pytest.mark.parametrize("encoding", ["audio/x-mulaw;rate=8000", "mulaw", "ULAW", "PCMU"])
def test_a_mulaw_encoding_is_honoured_both_ways(encoding: str) -> None:
    stream = ExotelMediaStream(CALL, StreamOptions())
    parsed = stream.parse(orjson.dumps(start_with(encoding=encoding)))
    assert isinstance(parsed, Started)
    assert (parsed.info.codec, parsed.info.sample_rate_hz, parsed.info.out_codec) == (
        Codec.PCMU,
        8000,
        Codec.PCMU,
    )
    codes = ulaw_encode(tone(8000, 100))
    received = stream.parse(media(codes))
    assert isinstance(received, MediaReceived)
    np.testing.assert_array_equal(received.pcm, reference_ulaw_decode(codes))
    pcm = tone(8000, stream.frame_ms)
    assert base64.b64decode(orjson.loads(stream.media_message(pcm))["media"]["payload"]) == ulaw_encode(pcm)


@pytest.mark.parametrize("ms", [20, 100, 37])
def test_media_of_any_size_is_decoded_as_little_endian_pcm16(ms: int) -> None:
    stream = started(sample_rate="16000")
    pcm = tone(16000, ms)
    received = stream.parse(media(pcm.astype("<i2").tobytes()))
    assert isinstance(received, MediaReceived)
    np.testing.assert_array_equal(received.pcm, pcm)


def test_dtmf_mark_and_stop() -> None:
    stream = started()
    assert stream.parse(
        '{"event":"dtmf","sequence_number":"50","stream_sid":"x","dtmf":{"digit":"5","duration":"200"}}'
    ) == DtmfPressed("5")
    assert stream.parse(
        '{"event":"mark","sequence_number":"75","stream_sid":"x","mark":{"name":"greeting-complete"}}'
    ) == MarkPlayed("greeting-complete")
    stop = {
        "event": "stop",
        "sequence_number": "100",
        "stream_sid": STREAM_SID,
        "stop": {"call_sid": "a1b2c3", "account_sid": "exotel_sid", "reason": "callended"},
    }
    assert isinstance(stream.parse(orjson.dumps(stop)), Stopped)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        '{"event":"nope"}',
        '{"event":"media","media":{"payload":"!!!"}}',
        '{"event":"media","media":{"payload":"AAEC"}}',  # 3 bytes: not 16-bit samples
        '{"event":"dtmf","dtmf":{"digit":"X"}}',
        '{"event":"mark","mark":{}}',
        orjson.dumps(START).decode(),  # a second start
    ],
)
def test_malformed_messages_raise_protocol_error(message: str) -> None:
    with pytest.raises(ProtocolError):
        started().parse(message)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda s: s["start"]["media_format"].update(sample_rate="44100"), "44100"),
        (lambda s: s["start"]["media_format"].update(sample_rate="fast"), "sample rate"),
        (lambda s: s["start"].pop("call_sid"), "call_sid"),
        (lambda s: (s.pop("stream_sid"), s["start"].pop("stream_sid")), "stream_sid"),
        (lambda s: s["start"].update(stream_sid='x"y', call_sid="c") or s.pop("stream_sid"), "stream_sid"),
    ],
)
def test_unusable_starts_are_refused(change: Any, match: str) -> None:
    start = orjson.loads(orjson.dumps(START))
    change(start)
    with pytest.raises(ProtocolError, match=match):
        ExotelMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))


def test_media_before_start_is_refused() -> None:
    with pytest.raises(ProtocolError, match="before start"):
        ExotelMediaStream(CALL, StreamOptions()).parse(media(bytes(320)))


def test_outbound_messages_have_exotel_shapes() -> None:
    stream = started()
    pcm = tone(8000, stream.frame_ms)
    assert orjson.loads(stream.media_message(pcm)) == {
        "event": "media",
        "stream_sid": STREAM_SID,
        "media": {"payload": base64.b64encode(pcm.astype("<i2").tobytes()).decode()},
    }
    assert orjson.loads(stream.mark_message("3.17")) == {
        "event": "mark",
        "stream_sid": STREAM_SID,
        "mark": {"name": "3.17"},
    }
    assert orjson.loads(stream.clear_message()) == {"event": "clear", "stream_sid": STREAM_SID}
    with pytest.raises(ProtocolError):
        stream.mark_message("bad/name")


@pytest.mark.parametrize(
    ("medium_rate", "start_rate", "frame_ms", "chunk_bytes"),
    [
        (None, "8000", 200, 3200),
        (None, "16000", 200, 6400),  # frame_ms is fixed before start; 200 ms suits every rate
        (None, "24000", 200, 9600),
        (8000, "8000", 200, 3200),
        (16000, "16000", 100, 3200),
        (24000, "24000", 100, 4800),
    ],
)
def test_outbound_chunks_are_multiples_of_320_bytes_and_at_least_the_minimum(
    medium_rate: int | None, start_rate: str, frame_ms: int, chunk_bytes: int
) -> None:
    stream = started(
        call_with(medium_rate) if medium_rate else CALL, encoding="base64", sample_rate=start_rate
    )
    assert stream.info is not None
    assert stream.frame_ms == frame_ms
    pcm = tone(stream.info.out_rate_hz, stream.frame_ms)
    chunk = base64.b64decode(orjson.loads(stream.media_message(pcm))["media"]["payload"])
    assert len(chunk) == chunk_bytes
    assert len(chunk) % 320 == 0
    assert len(chunk) >= 3200  # "Minimum 3.2 KB" (§4.3)
    assert stream.frame_ms >= 100  # and at least 100 ms
    assert len(chunk) <= 100 * 1024


def test_chunk_rules() -> None:
    assert chunk_problem(Codec.L16, 8000, 200) is None
    assert chunk_problem(Codec.L16, 8000, 100) == "of 1600 bytes (100 ms) are below the minimum"
    assert chunk_problem(Codec.L16, 16000, 100) is None
    assert chunk_problem(Codec.L16, 16000, 50) == "of 1600 bytes (50 ms) are below the minimum"
    assert chunk_problem(Codec.PCMU, 8000, 100) == "of 800 bytes are not a multiple of 320"
    assert chunk_problem(Codec.PCMU, 8000, 200) is None
    assert chunk_problem(Codec.L16, 24000, 4000) == "of 192000 bytes are above the maximum"


def test_detect_provider_recognises_the_exotel_start() -> None:
    assert detect_provider(START) is Provider.EXOTEL
    assert detect_provider({"event": "connected"}) is None
    assert isinstance(stream_for(Provider.EXOTEL, CALL, StreamOptions()), ExotelMediaStream)
