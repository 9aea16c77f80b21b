"""The Twilio Media Streams wire format (reference §1), message by message."""

from __future__ import annotations

import base64

import numpy as np
import orjson
import pytest

from callbridge.media.audio.g711 import ulaw_encode
from callbridge.media.providers.base import (
    Codec,
    Connected,
    DtmfPressed,
    Ignored,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    Started,
    Stopped,
    StreamOptions,
)
from callbridge.media.providers.twilio import TwilioMediaStream
from tests.media.helpers import (
    CALL,
    TWILIO_START,
    TWILIO_STREAM_SID,
    reference_ulaw_decode,
    started_twilio,
)

STREAM_SID = TWILIO_STREAM_SID
START = TWILIO_START
started = started_twilio


def test_connected_and_start_give_the_stream_parameters() -> None:
    stream = TwilioMediaStream(CALL, StreamOptions())
    assert isinstance(stream.parse('{"event":"connected","protocol":"Call","version":"1.0.0"}'), Connected)
    parsed = stream.parse(orjson.dumps(START))
    assert isinstance(parsed, Started)
    assert parsed.info.stream_id == STREAM_SID
    assert parsed.info.call_id == "CA" + "c" * 32
    assert parsed.info.codec is Codec.PCMU
    assert parsed.info.sample_rate_hz == 8000
    assert stream.info == parsed.info


def test_media_is_decoded_from_mulaw() -> None:
    stream = started()
    pcm = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    payload = base64.b64encode(ulaw_encode(pcm)).decode()
    message = {
        "event": "media",
        "sequenceNumber": "2",
        "streamSid": STREAM_SID,
        "media": {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload},
    }
    parsed = stream.parse(orjson.dumps(message))
    assert isinstance(parsed, MediaReceived)
    np.testing.assert_array_equal(parsed.pcm, reference_ulaw_decode(ulaw_encode(pcm)))


def test_alaw_streams_are_decoded_as_alaw() -> None:
    stream = TwilioMediaStream(CALL, StreamOptions())
    start = orjson.loads(orjson.dumps(START))
    start["start"]["mediaFormat"]["encoding"] = "audio/x-alaw"
    parsed = stream.parse(orjson.dumps(start))
    assert isinstance(parsed, Started)
    assert parsed.info.codec is Codec.PCMA


def test_dtmf_mark_and_stop() -> None:
    stream = started()
    assert stream.parse(
        '{"event":"dtmf","streamSid":"x","dtmf":{"track":"inbound_track","digit":"#"}}'
    ) == DtmfPressed("#")
    assert stream.parse('{"event":"mark","streamSid":"x","mark":{"name":"0.1"}}') == MarkPlayed("0.1")
    assert isinstance(stream.parse('{"event":"stop","streamSid":"x","stop":{}}'), Stopped)


def test_outbound_track_media_is_ignored() -> None:
    stream = started()
    parsed = stream.parse('{"event":"media","media":{"track":"outbound","payload":""}}')
    assert isinstance(parsed, Ignored)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1]",
        '{"event":"nope"}',
        '{"event":"media","media":{"payload":"!!!"}}',
        '{"event":"media"}',
        '{"event":"dtmf","dtmf":{"digit":"X"}}',
        '{"event":"mark","mark":{}}',
        orjson.dumps(START).decode(),  # a second start
    ],
)
def test_malformed_messages_raise_protocol_error(message: str) -> None:
    with pytest.raises(ProtocolError):
        started().parse(message)


def test_media_before_start_and_unsupported_formats_are_refused() -> None:
    with pytest.raises(ProtocolError, match="before start"):
        TwilioMediaStream(CALL, StreamOptions()).parse('{"event":"media","media":{"payload":""}}')
    for encoding, rate in (("audio/x-l16", 8000), ("audio/x-mulaw", 16000)):
        start = orjson.loads(orjson.dumps(START))
        start["start"]["mediaFormat"].update(encoding=encoding, sampleRate=rate)
        with pytest.raises(ProtocolError):
            TwilioMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))
    start = orjson.loads(orjson.dumps(START))
    start["streamSid"] = start["start"]["streamSid"] = 'MZ"injected'
    with pytest.raises(ProtocolError, match="streamSid"):
        TwilioMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))


def test_outbound_messages_are_valid_twilio_json() -> None:
    stream = started()
    pcm = (np.arange(160) * 100).astype(np.int16)
    media = orjson.loads(stream.media_message(pcm))
    assert media["event"] == "media"
    assert media["streamSid"] == STREAM_SID
    assert base64.b64decode(media["media"]["payload"]) == ulaw_encode(pcm)
    assert orjson.loads(stream.mark_message("3.17")) == {
        "event": "mark",
        "streamSid": STREAM_SID,
        "mark": {"name": "3.17"},
    }
    assert orjson.loads(stream.clear_message()) == {"event": "clear", "streamSid": STREAM_SID}
    with pytest.raises(ProtocolError):
        stream.mark_message('bad"name')
