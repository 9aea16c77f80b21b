"""The provider wire modules without a network: byte templates, and how server audio is checked.

The simulators and the load benchmark's client build every media frame and mark answer by filling a byte
template once per message (wire.py). These tests hold the templates to what ``orjson.dumps`` of the
documented message would give, also for ids that need escaping, and check the L16 byte-order rule.
"""

from __future__ import annotations

import base64

import orjson
import pytest

from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec, ByteOrder
from callbridge.devkit.simulators.exotel_wire import ExotelWire, StreamSidPlacement
from callbridge.devkit.simulators.plivo_wire import PlivoWire
from callbridge.devkit.simulators.telnyx_wire import TelnyxWire
from callbridge.devkit.simulators.twilio_wire import TwilioWire
from callbridge.devkit.simulators.wire import (
    StreamWire,
    binary_frame,
    json_slot,
    message_template,
    number_slot,
    number_text_slot,
    text_slot,
)

# Ids and parameters that would break a template that did not escape them: printf's %, JSON's quote.
AWKWARD_ID = 'id-100%d-"quoted"-\\-é'
PAYLOAD = base64.b64encode(bytes(range(160)))
L16_16K_LE = AudioCodec("L16", 16000, "little")


def test_a_template_fills_its_slots_as_orjson_would_write_the_values() -> None:
    message = {
        "event": "media",
        "sequenceNumber": number_slot("sequence"),
        "id": AWKWARD_ID,
        "media": {"chunk": number_text_slot("chunk"), "payload": text_slot("payload")},
        "mark": {"name": json_slot("name")},
    }
    template = message_template(message, ("sequence", "chunk", "payload", "name"))

    filled = template % (12, 3, PAYLOAD, orjson.dumps('0."5%'))

    assert filled == orjson.dumps(
        {
            "event": "media",
            "sequenceNumber": 12,
            "id": AWKWARD_ID,
            "media": {"chunk": "3", "payload": PAYLOAD.decode()},
            "mark": {"name": '0."5%'},
        }
    )


def test_a_template_refuses_fills_in_another_order_than_its_keys() -> None:
    message = {"a": number_slot("sequence"), "b": text_slot("payload")}
    with pytest.raises(ValueError, match=r"\('sequence', 'payload'\)"):
        message_template(message, ("payload", "sequence"))


def _wires(placement: StreamSidPlacement = "both") -> list[StreamWire]:
    return [
        TwilioWire(account_sid="AC1", call_sid="CA1", stream_sid=AWKWARD_ID, custom_parameters={"k": "%s"}),
        TelnyxWire(
            call_control_id="v3:1",
            stream_id=AWKWARD_ID,
            from_number="+1",
            to_number="+2",
            custom_parameters={},
            inbound=PCMU_8K,
            outbound=PCMU_8K,
            frame_ms=20,
        ),
        PlivoWire(
            call_uuid="c1",
            stream_id=AWKWARD_ID,
            account_id="MA1",
            encoding="audio/x-l16",
            codec=L16_16K_LE,
            frame_ms=20,
            extra_headers="tenant=100%",
            played_event="playedStream",
            stop_reason="hangup",
        ),
        ExotelWire(
            call_sid="c1",
            stream_sid=AWKWARD_ID,
            account_sid="a1",
            from_number="+1",
            to_number="+2",
            custom_parameters={},
            codec=L16_16K_LE,
            frame_ms=20,
            stream_sid_placement=placement,
            sample_rate_format="plain",
            echo_marks_on_clear=True,
            min_chunk_rule="documented",
        ),
    ]


@pytest.mark.parametrize(
    ("index", "id_key", "sequence_key"),
    [
        (0, "streamSid", "sequenceNumber"),
        (1, "stream_id", "sequence_number"),
        (2, "streamId", "sequenceNumber"),
        (3, "stream_sid", "sequence_number"),
    ],
    ids=["twilio", "telnyx", "plivo", "exotel"],
)
def test_templated_messages_carry_the_stream_id_and_count_on_from_the_opening(
    index: int, id_key: str, sequence_key: str
) -> None:
    wire = _wires()[index]
    opening = [orjson.loads(message) for message in wire.opening()]

    media = orjson.loads(wire.media(3, PAYLOAD))
    mark = orjson.loads(wire.mark_echo('0."7', cleared=False) or b"null")

    numbered = [message for message in [*opening, media, mark] if sequence_key in message]
    assert [int(message[sequence_key]) for message in numbered] == list(range(1, len(numbered) + 1))
    assert media[id_key] == mark[id_key] == AWKWARD_ID
    assert media["media"]["payload"] == PAYLOAD.decode()
    assert str(media["media"]["chunk"]) == "3"
    assert media["media"]["timestamp"] == "40"  # ms from the stream start: chunk 3 of 20 ms frames
    assert (mark["name"] if wire.provider == "plivo" else mark["mark"]["name"]) == '0."7'


@pytest.mark.parametrize("placement", ["both", "top", "start"])
def test_exotel_media_puts_stream_sid_where_start_does(placement: StreamSidPlacement) -> None:
    wire = _wires(placement)[3]
    start = orjson.loads(wire.opening()[1])

    media = orjson.loads(wire.media(1, PAYLOAD))

    assert ("stream_sid" in media) == ("stream_sid" in start) == (placement != "start")
    assert ("stream_sid" in start["start"]) == (placement != "top")
    assert list(media) == [
        "event",
        "sequence_number",
        *(["stream_sid"] if placement != "start" else []),
        "media",
    ]


def test_plivo_media_carries_the_extra_headers_and_numeric_counters() -> None:
    wire = _wires()[2]
    wire.opening()

    media = orjson.loads(wire.media(2, PAYLOAD))

    assert media["sequenceNumber"] == 2
    assert media["media"]["chunk"] == 2
    assert media["extra_headers"] == "tenant=100%"
    assert orjson.loads(wire.clear_ack() or b"null") == {
        "sequenceNumber": 3,
        "event": "clearedAudio",
        "streamId": AWKWARD_ID,
    }
    assert wire.mark_echo("cut", cleared=True) is None  # §3.6: a cleared checkpoint is never answered


def _exotel_media(audio: bytes) -> str:
    return orjson.dumps({"event": "media", "media": {"payload": base64.b64encode(audio).decode()}}).decode()


@pytest.mark.parametrize("sent_order", ["little", "big"])
def test_l16_audio_in_the_wrong_byte_order_still_plays_and_is_flagged_once(sent_order: ByteOrder) -> None:
    wire = _wires()[3]  # the stream is little-endian
    speech = tone(300.0, 0.1, 16000)
    wrong = sent_order != "little"

    silence = wire.read(_exotel_media(bytes(3200)))
    first = wire.read(_exotel_media(AudioCodec("L16", 16000, sent_order).encode(speech)))
    second = wire.read(_exotel_media(AudioCodec("L16", 16000, sent_order).encode(speech)))

    assert silence.violations == ()  # silence says nothing of the byte order: the next message decides
    assert first.audio is not None
    assert len(first.audio) == 3200  # played all the same
    assert any("not little-endian" in reason for reason in first.violations) == wrong
    assert second.violations == ()  # decided once per stream


def test_a_binary_frame_names_the_provider_and_plays_nothing() -> None:
    message = binary_frame("twilio")
    assert message.audio is None
    assert message.violations == ("binary frame; Twilio expects JSON text frames",)


def test_the_same_message_reads_alike_as_text_and_as_its_utf8_bytes() -> None:
    wire = _wires()[0]
    text = orjson.dumps(
        {"event": "media", "streamSid": AWKWARD_ID, "media": {"payload": PAYLOAD.decode()}}
    ).decode()

    as_text, as_bytes = wire.read(text), wire.read(text.encode())

    assert as_text == as_bytes
    assert as_text.audio == base64.b64decode(PAYLOAD)


@pytest.mark.parametrize("payload", ["é" * 4, "AA=A", "not base64!", 12])
def test_a_payload_that_is_no_base64_is_a_violation_not_an_error(payload: object) -> None:
    wire = _wires()[0]
    text = orjson.dumps({"event": "media", "streamSid": AWKWARD_ID, "media": {"payload": payload}})

    message = wire.read(text)

    assert message.audio is None
    assert len(message.violations) == 1
    assert "media.payload" in message.violations[0]
