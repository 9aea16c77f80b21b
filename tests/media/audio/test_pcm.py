"""L16 helpers: byte order, exact frame sizes, and refusal of malformed input."""

import numpy as np
import pytest

from callbridge.media.audio.pcm import FRAME_MS, pcm_from_bytes, pcm_to_bytes, samples_per_frame


def test_little_endian_is_the_default_byte_order() -> None:
    samples = pcm_from_bytes(b"\x01\x00\x00\x80\xff\x7f")
    assert samples.dtype == np.int16
    assert samples.tolist() == [1, -32768, 32767]


def test_big_endian_reads_network_order_l16() -> None:
    assert pcm_from_bytes(b"\x00\x01\x80\x00\x7f\xff", big_endian=True).tolist() == [1, -32768, 32767]


@pytest.mark.parametrize("big_endian", [False, True], ids=["s16le", "s16be"])
def test_bytes_round_trip_is_exact_for_every_sample_value(big_endian: bool) -> None:
    every_value = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    wire = pcm_to_bytes(every_value, big_endian=big_endian)
    assert len(wire) == 2 * every_value.size
    np.testing.assert_array_equal(pcm_from_bytes(wire, big_endian=big_endian), every_value)


def test_byte_orders_differ_on_the_wire() -> None:
    one = np.array([1], dtype=np.int16)
    assert pcm_to_bytes(one) == b"\x01\x00"
    assert pcm_to_bytes(one, big_endian=True) == b"\x00\x01"


def test_odd_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        pcm_from_bytes(b"\x00\x01\x02")


def test_non_int16_pcm_is_rejected() -> None:
    with pytest.raises(TypeError, match="int16"):
        pcm_to_bytes(np.zeros(4, dtype=np.float64))  # wrong dtype on purpose


@pytest.mark.parametrize(
    ("rate_hz", "samples"), [(8000, 160), (16000, 320), (24000, 480), (44100, 882), (48000, 960)]
)
def test_samples_per_20ms_frame(rate_hz: int, samples: int) -> None:
    assert FRAME_MS == 20
    assert samples_per_frame(rate_hz) == samples


def test_samples_per_frame_accepts_other_whole_frame_lengths() -> None:
    assert samples_per_frame(8000, frame_ms=10) == 80
    assert samples_per_frame(24000, frame_ms=30) == 720


@pytest.mark.parametrize(("rate_hz", "frame_ms"), [(11025, 20), (0, 20), (8000, 0)])
def test_samples_per_frame_refuses_fractional_or_empty_frames(rate_hz: int, frame_ms: int) -> None:
    with pytest.raises(ValueError, match="whole number of samples"):
        samples_per_frame(rate_hz, frame_ms=frame_ms)
