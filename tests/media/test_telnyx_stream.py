"""The Telnyx media-streaming wire format, bidirectional RTP mode (reference §2), message by message."""

from __future__ import annotations

import base64
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
import numpy.typing as npt
import orjson
import pytest

from callbridge.common.models.call import Call
from callbridge.common.models.medium import CallMedium, Provider, TelnyxCodec, TelnyxMedium
from callbridge.media.audio.g711 import alaw_encode, ulaw_decode, ulaw_encode
from callbridge.media.providers.base import (
    ByteOrder,
    Codec,
    Connected,
    DtmfPressed,
    Ignored,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    ProviderErrorReported,
    Started,
    Stopped,
    StreamOptions,
)
from callbridge.media.providers.registry import detect_provider, stream_for
from callbridge.media.providers.telnyx import TelnyxMediaStream
from tests.media.helpers import reference_alaw_decode, reference_ulaw_decode

STREAM_ID = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
CALL_CONTROL_ID = "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
CALL = Call(call_id=uuid4(), created=datetime.now(UTC))
# §2.2, verbatim.
START: dict[str, Any] = {
    "event": "start",
    "sequence_number": "1",
    "start": {
        "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
        "call_control_id": CALL_CONTROL_ID,
        "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
        "from": "+13122010094",
        "to": "+13122123456",
        "tags": ["TAG1", "TAG2"],
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
    },
    "stream_id": STREAM_ID,
}
RATE_16K = 16000


def call_with(codec: TelnyxCodec, rate: int) -> Call:
    medium = CallMedium(telnyx=TelnyxMedium(codec=codec, sample_rate=rate))  # type: ignore[arg-type]  # Literal rate
    return Call(call_id=uuid4(), created=datetime.now(UTC), medium=medium)


def start_with(encoding: str, rate: int) -> dict[str, Any]:
    start: dict[str, Any] = orjson.loads(orjson.dumps(START))
    start["start"]["media_format"].update(encoding=encoding, sample_rate=rate)
    return start


def started(
    encoding: str = "PCMU", rate: int = 8000, call: Call = CALL, byte_order: ByteOrder = "big"
) -> TelnyxMediaStream:
    stream = TelnyxMediaStream(call, StreamOptions(telnyx_l16_byte_order=byte_order))
    assert isinstance(stream.parse(orjson.dumps(start_with(encoding, rate))), Started)
    return stream


def media(payload: bytes, seq: int | None = None, track: str = "inbound") -> bytes:
    message: dict[str, Any] = {
        "event": "media",
        "media": {
            "track": track,
            "chunk": "1",
            "timestamp": "5",
            "payload": base64.b64encode(payload).decode(),
        },
        "stream_id": STREAM_ID,
    }
    if seq is not None:
        message["sequence_number"] = str(seq)
    return orjson.dumps(message)


def mark_echo(name: str, seq: int) -> bytes:
    return orjson.dumps(
        {"event": "mark", "stream_id": STREAM_ID, "sequence_number": str(seq), "mark": {"name": name}}
    )


def tone(rate_hz: int, ms: int, hz: float = 440.0, level: float = 8000.0) -> npt.NDArray[np.int16]:
    t = np.arange(rate_hz * ms // 1000) / rate_hz
    return (np.sin(2 * np.pi * hz * t) * level).astype(np.int16)


def decoded(parsed: object) -> npt.NDArray[np.int16]:
    assert isinstance(parsed, MediaReceived), parsed
    return parsed.pcm


# -- start -------------------------------------------------------------------------------------------


def test_connected_and_start_give_the_stream_parameters() -> None:
    stream = TelnyxMediaStream(CALL, StreamOptions())
    assert isinstance(stream.parse('{"event":"connected","version":"1.0.0"}'), Connected)
    parsed = stream.parse(orjson.dumps(START))
    assert isinstance(parsed, Started)
    info = parsed.info
    assert (info.stream_id, info.call_id) == (STREAM_ID, CALL_CONTROL_ID)
    assert info.account_id == "3E6F995F-85F7-4705-9741-53B116D28237"
    assert (info.codec, info.sample_rate_hz, info.out_codec, info.out_rate_hz) == (
        Codec.PCMU,
        8000,
        Codec.PCMU,
        8000,
    )
    assert stream.info == info


@pytest.mark.parametrize(
    ("encoding", "rate"), [("G722", 8000), ("OPUS", 16000), ("AMR-WB", 16000), ("L16", 8000), ("PCMU", 16000)]
)
def test_start_with_a_format_callbridge_cannot_decode_says_so(encoding: str, rate: int) -> None:
    with pytest.raises(ProtocolError, match=rf"unsupported Telnyx media format {encoding}/{rate}"):
        TelnyxMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start_with(encoding, rate)))


def test_stereo_start_is_refused() -> None:
    start = start_with("PCMU", 8000)
    start["start"]["media_format"]["channels"] = 2
    with pytest.raises(ProtocolError, match="channels"):
        TelnyxMediaStream(CALL, StreamOptions()).parse(orjson.dumps(start))


# -- inbound audio -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "reference"), [("PCMU", reference_ulaw_decode), ("PCMA", reference_alaw_decode)]
)
def test_g711_media_is_decoded_bit_exact(encoding: str, reference: Any) -> None:
    stream = started(encoding)
    codes = bytes(range(256))  # every code, against the G.711 reference decoder
    np.testing.assert_array_equal(decoded(stream.parse(media(codes, seq=2))), reference(codes))


@pytest.mark.parametrize("order", ["big", "little"])
def test_l16_is_decoded_in_the_configured_byte_order(order: ByteOrder) -> None:
    stream = started("L16", RATE_16K, byte_order=order)
    pcm = tone(RATE_16K, 20)
    wire = pcm.astype(">i2" if order == "big" else "<i2").tobytes()
    np.testing.assert_array_equal(decoded(stream.parse(media(wire, seq=2))), pcm)


def test_inbound_track_spellings_are_accepted_and_outbound_ignored() -> None:
    stream = started()
    assert isinstance(stream.parse(media(b"\xff" * 160, seq=2, track="inbound_track")), MediaReceived)
    assert isinstance(stream.parse(media(b"\xff" * 160, seq=3, track="outbound")), Ignored)
    assert isinstance(stream.parse(media(b"\xff" * 160, seq=4, track="outbound_track")), Ignored)
    # The ignored frames took their numbers: the next inbound frame does not wait for them.
    assert isinstance(stream.parse(media(b"\xff" * 160, seq=5)), MediaReceived)
    with pytest.raises(ProtocolError, match="track"):
        stream.parse(media(b"\xff" * 160, seq=6, track="sideways"))


# -- other inbound messages --------------------------------------------------------------------------


def test_dtmf_mark_error_and_stop() -> None:
    stream = started()
    assert stream.parse(
        '{"event":"dtmf","stream_id":"x","occurred_at":"2025-06-05T08:54:19.698408Z",'
        '"sequence_number":"5","dtmf":{"digit":"1"}}'
    ) == DtmfPressed("1")
    assert stream.parse(mark_echo("0.1", 6)) == MarkPlayed("0.1")
    assert stream.parse(
        '{"event":"error","payload":{"code":100003,"title":"malformed_frame",'
        '"detail":"Received frame was not formed correctly"},"stream_id":"x"}'
    ) == ProviderErrorReported("100003", "malformed_frame", "Received frame was not formed correctly")
    stop = {
        "event": "stop",
        "sequence_number": "7",
        "stop": {"user_id": "u", "call_control_id": CALL_CONTROL_ID},
        "stream_id": STREAM_ID,
    }
    assert isinstance(stream.parse(orjson.dumps(stop)), Stopped)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1]",
        '{"event":"nope"}',
        '{"event":"media","media":{"payload":"!!!"}}',
        '{"event":"media"}',
        '{"event":"media","sequence_number":"x1","media":{"payload":""}}',
        '{"event":"dtmf","dtmf":{"digit":"X"}}',
        '{"event":"mark","mark":{}}',
        '{"event":"error","stream_id":"x"}',
        orjson.dumps(START).decode(),  # a second start
    ],
)
def test_malformed_messages_raise_protocol_error(message: str) -> None:
    with pytest.raises(ProtocolError):
        started().parse(message)


def test_media_before_start_and_odd_l16_payloads_are_refused() -> None:
    with pytest.raises(ProtocolError, match="before start"):
        TelnyxMediaStream(CALL, StreamOptions()).parse(media(b"\xff" * 160))
    with pytest.raises(ProtocolError, match="even"):
        started("L16", RATE_16K).parse(media(b"\x00" * 641, seq=2))


# -- outbound ----------------------------------------------------------------------------------------


def test_outbound_messages_have_telnyx_shapes() -> None:
    stream = started()
    pcm = (np.arange(160) * 100).astype(np.int16)
    message = orjson.loads(stream.media_message(pcm))
    assert message == {"event": "media", "media": {"payload": base64.b64encode(ulaw_encode(pcm)).decode()}}
    assert orjson.loads(stream.mark_message("3.17")) == {"event": "mark", "mark": {"name": "3.17"}}
    assert orjson.loads(stream.clear_message()) == {"event": "clear"}
    with pytest.raises(ProtocolError):
        stream.mark_message('bad"name')


def test_codecs_differ_per_direction_l16_in_pcmu_out() -> None:
    stream = started("L16", RATE_16K, call=call_with(TelnyxCodec.PCMU, 8000))
    info = stream.info
    assert info is not None
    assert (info.codec, info.sample_rate_hz, info.out_codec, info.out_rate_hz) == (
        Codec.L16,
        RATE_16K,
        Codec.PCMU,
        8000,
    )
    assert info.media_format == "l16/16000 in, pcmu/8000 out"
    pcm = tone(8000, 20)
    payload = base64.b64decode(orjson.loads(stream.media_message(pcm))["media"]["payload"])
    assert payload == ulaw_encode(pcm)


def test_pcmu_in_pcma_out_and_unset_medium_plays_what_it_receives() -> None:
    stream = started("PCMU", 8000, call=call_with(TelnyxCodec.PCMA, 8000))
    pcm = tone(8000, 20)
    payload = base64.b64decode(orjson.loads(stream.media_message(pcm))["media"]["payload"])
    assert payload == alaw_encode(pcm)
    unset = started("L16", RATE_16K, call=CALL, byte_order="big")
    wide = tone(RATE_16K, 20)
    payload = base64.b64decode(orjson.loads(unset.media_message(wide))["media"]["payload"])
    assert payload == wide.astype(">i2").tobytes()


# -- L16 byte order check ----------------------------------------------------------------------------


def speech_like(frames: int, rate_hz: int = RATE_16K, seed: int = 1) -> list[npt.NDArray[np.int16]]:
    """A voiced 120 Hz buzz through two formant-ish resonances, syllable-rate envelope, plus room noise."""
    rng = np.random.default_rng(seed)
    n = frames * rate_hz // 50
    t = np.arange(n) / rate_hz
    voiced = np.sum([np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 30)], axis=0)
    formants = np.convolve(voiced, np.hanning(9) / 4.5, mode="same")
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    signal = 6000 * formants * envelope / np.abs(formants).max() + rng.normal(0, 30, n)
    return list(np.split(signal.astype(np.int16), frames))


@pytest.mark.parametrize("signal", ["tone", "speech"])
def test_l16_sent_in_the_other_byte_order_switches_both_directions_with_one_warning(
    signal: str, caplog: pytest.LogCaptureFixture
) -> None:
    stream = started("L16", RATE_16K, byte_order="big")
    if signal == "tone":
        frames = [tone(RATE_16K, 20, hz=440 + 10 * i) for i in range(50)]
    else:
        frames = speech_like(50, seed=2)
    out: list[npt.NDArray[np.int16]] = []
    with caplog.at_level(logging.INFO, logger="callbridge.media.providers.telnyx"):
        for seq, pcm in enumerate(frames, start=2):
            out.append(decoded(stream.parse(media(pcm.astype("<i2").tobytes(), seq=seq))))
    assert stream.l16_byte_order == "little"
    assert stream.l16_byte_order_switched
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "little-endian" in warnings[0].getMessage()
    # Decided on the third frame with signal, which is already decoded in the right order.
    for pcm, got in zip(frames[2:], out[2:], strict=True):
        np.testing.assert_array_equal(got, pcm)
    outbound = base64.b64decode(orjson.loads(stream.media_message(frames[0]))["media"]["payload"])
    assert outbound == frames[0].astype("<i2").tobytes()


@pytest.mark.parametrize("order", ["big", "little"])
def test_l16_in_the_configured_order_never_switches(
    order: ByteOrder, caplog: pytest.LogCaptureFixture
) -> None:
    stream = started("L16", RATE_16K, byte_order=order)
    silence = [np.zeros(320, dtype=np.int16)] * 20
    quiet = [np.full(320, 7, dtype=np.int16)] * 5  # DC: no steps either way
    frames = silence + quiet + speech_like(50)
    with caplog.at_level(logging.WARNING, logger="callbridge.media.providers.telnyx"):
        for seq, pcm in enumerate(frames, start=2):
            got = decoded(
                stream.parse(media(pcm.astype(">i2" if order == "big" else "<i2").tobytes(), seq=seq))
            )
            np.testing.assert_array_equal(got, pcm)
    assert stream.l16_byte_order == order
    assert not stream.l16_byte_order_switched
    assert not caplog.records


def test_silence_alone_decides_nothing() -> None:
    stream = started("L16", RATE_16K, byte_order="big")
    for seq in range(2, 200):
        stream.parse(media(bytes(640), seq=seq))
    assert stream.l16_byte_order == "big"
    big_endian_tone = tone(RATE_16K, 20).astype(">i2").tobytes()
    # The check is still open: it has seen no signal yet, so it can still tell.
    for seq in range(200, 203):
        stream.parse(media(big_endian_tone, seq=seq))
    assert stream.l16_byte_order == "big"
    assert stream._byte_order_check is None  # settled (confirmed), no further cost per frame


def test_loud_white_noise_leaves_the_configured_order() -> None:
    stream = started("L16", RATE_16K, byte_order="little")
    rng = np.random.default_rng(5)
    for seq in range(2, 80):
        stream.parse(media(rng.integers(-32768, 32767, 320, dtype=np.int16).astype("<i2").tobytes(), seq=seq))
    assert stream.l16_byte_order == "little"


def test_a_reading_only_one_and_a_half_times_smoother_is_not_enough(caplog: pytest.LogCaptureFixture) -> None:
    # 60% of each frame is a little-endian tone and 40% a big-endian one: the little-endian reading steps
    # about 1.5 times less than the big-endian one, short of the 2x margin. After 1 s the check gives up.
    stream = started("L16", RATE_16K, byte_order="big")
    pcm = tone(RATE_16K, 20)
    mixed = pcm[:192].astype("<i2").tobytes() + pcm[192:].astype(">i2").tobytes()
    with caplog.at_level(logging.INFO, logger="callbridge.media.providers.telnyx"):
        for seq in range(2, 102):
            stream.parse(media(mixed, seq=seq))
    assert stream.l16_byte_order == "big"
    assert [r.getMessage() for r in caplog.records] == [
        f"call {CALL.call_id}: Telnyx L16 byte order not evident from the audio; keeping big-endian"
    ]


def test_garbage_short_and_odd_frames_do_not_vote_on_the_byte_order_but_real_speech_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = started("L16", RATE_16K, byte_order="big")
    speech = speech_like(30, seed=3)
    little = [pcm.astype("<i2").tobytes() for pcm in speech]
    rng = np.random.default_rng(11)
    garbage: list[bytes] = [
        *(frame + b"\x00" for frame in little[:10]),  # odd length: rejected, so it must not vote
        *(b"\x01\x00\x00\x00" for _ in range(10)),  # 2 samples that read smoothly little-endian only
        *(frame[:8] for frame in little[:10]),  # 4 samples of speech: too short to be a frame
        *(frame[:330] for frame in little[:10]),  # not a whole number of 10 ms
        *(np.tile(np.array([0, 3], "<i2"), 160).tobytes() for _ in range(10)),  # quieter than any voice
        *(rng.integers(-32768, 32767, 320, dtype=np.int16).astype("<i2").tobytes() for _ in range(5)),
    ]
    seq = 2
    with caplog.at_level(logging.WARNING, logger="callbridge.media.providers.telnyx"):
        for payload in garbage:
            with contextlib.suppress(ProtocolError):
                stream.parse(media(payload, seq=seq))
            seq += 1
        assert stream.l16_byte_order == "big"
        assert not stream.l16_byte_order_switched
        assert not caplog.records
        # Real little-endian speech still tells the order, after all that garbage.
        for payload in little:
            stream.parse(media(payload, seq=seq))
            seq += 1
    assert stream.l16_byte_order_switched
    (warning,) = caplog.records
    assert "little-endian" in warning.getMessage()


# -- reordering --------------------------------------------------------------------------------------


def frame(n: int) -> bytes:
    """160 μ-law codes all equal to n: frame n decodes to a constant that names it."""
    return bytes([n]) * 160


def names(pcm: npt.NDArray[np.int16]) -> list[int]:
    frames = pcm.reshape(-1, 160)
    return [int(np.flatnonzero(ulaw_decode(bytes(range(256))) == f[0])[0]) for f in frames]


def test_swapped_frames_come_out_in_order() -> None:
    stream = started()
    assert names(decoded(stream.parse(media(frame(2), seq=2)))) == [2]
    assert stream.parse(media(frame(4), seq=4)) == Ignored("held for reordering")
    assert names(decoded(stream.parse(media(frame(3), seq=3)))) == [3, 4]
    assert names(decoded(stream.parse(media(frame(5), seq=5)))) == [5]
    assert stream.reorder.frames_reordered == 1
    assert stream.reorder.gaps_skipped == stream.reorder.frames_dropped_late == 0


def test_mark_echoes_between_frames_do_not_hold_audio_back() -> None:
    # Telnyx numbers every message; a mark echo after each frame leaves the media numbers with gaps.
    stream = started()
    seq = 2
    for n in range(10, 20):
        assert names(decoded(stream.parse(media(frame(n), seq=seq)))) == [n]
        assert stream.parse(mark_echo(f"0.{n}", seq + 1)) == MarkPlayed(f"0.{n}")
        seq += 2
    assert stream.reorder.held_frames == 0
    assert stream.reorder.gaps_skipped == 0


def test_a_missing_frame_is_skipped_once_the_window_is_full() -> None:
    stream = started()
    decoded(stream.parse(media(frame(2), seq=2)))
    for n in (4, 5, 6):  # 3 is lost; three frames (60 ms) wait for it
        assert isinstance(stream.parse(media(frame(n), seq=n)), Ignored)
    assert names(decoded(stream.parse(media(frame(7), seq=7)))) == [4, 5, 6, 7]
    assert stream.reorder.gaps_skipped == 1
    # Frame 3 arriving now is too late to place: dropped, counted.
    assert stream.parse(media(frame(3), seq=3)) == Ignored("held for reordering")
    assert stream.reorder.frames_dropped_late == 1


def test_late_duplicates_are_dropped() -> None:
    stream = started()
    for n in (2, 3, 4):
        decoded(stream.parse(media(frame(n), seq=n)))
    assert isinstance(stream.parse(media(frame(3), seq=3)), Ignored)
    assert isinstance(stream.parse(media(frame(6), seq=6)), Ignored)
    assert isinstance(stream.parse(media(frame(6), seq=6)), Ignored)  # a duplicate of a held frame
    assert names(decoded(stream.parse(media(frame(5), seq=5)))) == [5, 6]
    assert stream.reorder.frames_dropped_late == 2


def test_a_mark_that_fills_the_gap_releases_the_held_frames_with_the_next_frame() -> None:
    stream = started()
    decoded(stream.parse(media(frame(2), seq=2)))
    assert isinstance(stream.parse(media(frame(4), seq=4)), Ignored)  # number 3 not seen yet
    assert stream.parse(mark_echo("0.1", 3)) == MarkPlayed("0.1")
    assert names(decoded(stream.parse(media(frame(5), seq=5)))) == [4, 5]
    assert stream.reorder.gaps_skipped == 0


def test_a_broken_frame_does_not_hold_the_next_ones_back() -> None:
    stream = started()
    decoded(stream.parse(media(frame(2), seq=2)))
    broken = orjson.dumps({"event": "media", "sequence_number": "3", "media": {"payload": "!!"}})
    with pytest.raises(ProtocolError, match="base64"):
        stream.parse(broken)
    assert names(decoded(stream.parse(media(frame(4), seq=4)))) == [4]


def test_a_restarted_counter_does_not_silence_the_call() -> None:
    stream = started()
    for n in range(2, 400):
        stream.parse(media(frame(n % 200), seq=n))
    assert names(decoded(stream.parse(media(frame(9), seq=1)))) == [9]
    assert names(decoded(stream.parse(media(frame(10), seq=2)))) == [10]
    assert stream.reorder.counter_restarts == 1


def test_media_without_a_sequence_number_passes_straight_through() -> None:
    stream = started()
    assert names(decoded(stream.parse(media(frame(9))))) == [9]


# -- registry ----------------------------------------------------------------------------------------


def test_detect_provider_recognises_the_telnyx_start() -> None:
    assert detect_provider(START) is Provider.TELNYX
    assert detect_provider({"event": "connected", "version": "1.0.0"}) is None
    nested = orjson.loads(orjson.dumps(START))
    nested["start"]["stream_id"] = nested.pop("stream_id")
    assert detect_provider(nested) is Provider.TELNYX
    parsed = TelnyxMediaStream(CALL, StreamOptions()).parse(orjson.dumps(nested))
    assert isinstance(parsed, Started)
    assert parsed.info.stream_id == STREAM_ID
    assert isinstance(stream_for(Provider.TELNYX, CALL, StreamOptions()), TelnyxMediaStream)
