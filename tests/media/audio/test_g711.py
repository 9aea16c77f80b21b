"""G.711 tables: bit-exact with audioop, with published G.711 values, and round-trip safe."""

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from callbridge.media.audio.g711 import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from tests.media.helpers import reference_alaw_decode, reference_ulaw_decode


def _import_audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated since 3.11, gone in 3.13
        try:
            import audioop
        except ImportError:
            return None
    return audioop


audioop = _import_audioop()
needs_audioop = pytest.mark.skipif(
    audioop is None,
    reason="audioop left the standard library in Python 3.13; the published-value tests still run",
)

Decoder = Callable[[bytes], npt.NDArray[np.int16]]
Encoder = Callable[[npt.NDArray[np.int16]], bytes]

ALL_CODES = bytes(range(256))
ALL_SAMPLES: npt.NDArray[np.int16] = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)

# G.711 Tables 5 and 6: the "digital milliwatt", one period of a 1 kHz tone at 0 dBm0 at 8 kHz.
ULAW_DIGITAL_MILLIWATT = bytes([0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E])
ALAW_DIGITAL_MILLIWATT = bytes([0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4])
# G.711 overload points: μ-law T_max = 8159 in 14-bit units (+3.17 dBm0), A-law 4096 in 13-bit
# units (+3.14 dBm0); scaled to 16-bit by 4 and 8.
ULAW_ZERO_DBM0_PEAK = 8159 * 4 * 10 ** (-3.17 / 20)
ALAW_ZERO_DBM0_PEAK = 4096 * 8 * 10 ** (-3.14 / 20)


def _codes(data: bytes) -> npt.NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8)


@needs_audioop
def test_ulaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert audioop is not None
    expected = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype=np.int16)
    np.testing.assert_array_equal(ulaw_decode(ALL_CODES), expected)


@needs_audioop
def test_alaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert audioop is not None
    expected = np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype=np.int16)
    np.testing.assert_array_equal(alaw_decode(ALL_CODES), expected)


@needs_audioop
def test_ulaw_encode_matches_audioop_for_all_65536_samples() -> None:
    assert audioop is not None
    expected = _codes(audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2))
    np.testing.assert_array_equal(_codes(ulaw_encode(ALL_SAMPLES)), expected)


@needs_audioop
def test_alaw_encode_matches_audioop_for_all_65536_samples() -> None:
    assert audioop is not None
    expected = _codes(audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2))
    np.testing.assert_array_equal(_codes(alaw_encode(ALL_SAMPLES)), expected)


def test_ulaw_decode_gives_published_g711_output_values() -> None:
    # G.711 Table 2 decoder outputs in 14-bit units (×4 here): 0, 2, 4 … in segment 0, 33, 37 …
    # in segment 1, up to 8031. 0xFF and 0x7F are the two zeros.
    decoded = ulaw_decode(bytes([0xFF, 0xFE, 0xFD, 0xEF, 0xEE, 0x80, 0x7F, 0x7E, 0x00]))
    assert decoded.tolist() == [0, 8, 16, 132, 148, 32124, 0, -8, -32124]


def test_alaw_decode_gives_published_g711_output_values() -> None:
    # G.711 Table 1 decoder outputs in 13-bit units (×8 here): 1, 3 … 31 in segment 0, 33 … in
    # segment 1, up to 4032. 0xD5 is the smallest positive value, 0x55 its negative.
    decoded = alaw_decode(bytes([0xD5, 0xD4, 0xC5, 0xAA, 0x55, 0x2A]))
    assert decoded.tolist() == [8, 24, 264, 32256, -8, -32256]


@pytest.mark.parametrize(
    ("decode", "milliwatt", "zero_dbm0_peak"),
    [
        (ulaw_decode, ULAW_DIGITAL_MILLIWATT, ULAW_ZERO_DBM0_PEAK),
        (alaw_decode, ALAW_DIGITAL_MILLIWATT, ALAW_ZERO_DBM0_PEAK),
    ],
    ids=["ulaw", "alaw"],
)
def test_digital_milliwatt_decodes_to_a_zero_dbm0_1khz_sine(
    decode: Decoder, milliwatt: bytes, zero_dbm0_peak: float
) -> None:
    samples = np.asarray(decode(milliwatt), dtype=np.float64)
    # One 1 kHz period at 8 kHz: the second half mirrors the first with the opposite sign.
    np.testing.assert_array_equal(samples[4:], -samples[:4])
    level_db = 20 * np.log10(np.sqrt(np.mean(samples**2)) * np.sqrt(2) / zero_dbm0_peak)
    assert abs(level_db) < 0.1


def test_encoders_follow_published_decision_levels_and_overload() -> None:
    # μ-law: the first decision level is 1 in 14-bit units (16-bit 4), A-law's first is 2 in
    # 13-bit units (16-bit 16); full scale saturates at the largest code of either sign.
    ulaw_inputs = np.array([0, 3, 4, 32767, -32768], dtype=np.int16)
    assert ulaw_encode(ulaw_inputs) == bytes([ULAW_SILENCE, 0xFF, 0xFE, 0x80, 0x00])
    alaw_inputs = np.array([0, 15, 16, 32767, -32768], dtype=np.int16)
    assert alaw_encode(alaw_inputs) == bytes([ALAW_SILENCE, 0xD5, 0xD4, 0xAA, 0x2A])


def test_ulaw_code_round_trip_is_exact_except_negative_zero() -> None:
    codes = _codes(ulaw_encode(ulaw_decode(ALL_CODES)))
    changed = np.flatnonzero(codes != _codes(ALL_CODES))
    # 0x7F decodes to 0, which encodes as the positive zero 0xFF: same sample, one code.
    assert changed.tolist() == [0x7F]
    assert codes[0x7F] == ULAW_SILENCE


def test_alaw_code_round_trip_is_exact_for_every_code() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)], ids=["ulaw", "alaw"]
)
def test_sample_round_trip_keeps_g711_signal_to_quantization_ratio(encode: Encoder, decode: Decoder) -> None:
    time_s = np.arange(8000) / 8000
    tone = np.round(10 ** (-10 / 20) * 32767 * np.sin(2 * np.pi * 1013 * time_s)).astype(np.int16)
    restored = np.asarray(decode(encode(tone)), dtype=np.float64)
    error = restored - tone
    # Companding keeps the error ~38 dB below a mid-level sine (G.711's design point).
    snr_db = 10 * np.log10(np.sum(tone.astype(np.float64) ** 2) / np.sum(error**2))
    assert snr_db > 35
    # The error never exceeds half of the largest step (A-law 1024, μ-law 1024 in 16-bit units).
    assert np.max(np.abs(error)) <= 512


def test_decoders_return_int16_and_accept_empty_input() -> None:
    for decode in (ulaw_decode, alaw_decode):
        assert decode(b"").shape == (0,)
        assert decode(bytes(160)).dtype == np.int16


def test_encoders_reject_non_int16_pcm() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.zeros(160, dtype=np.float32))  # wrong dtype on purpose
    with pytest.raises(TypeError, match="int16"):
        alaw_encode(np.zeros(160, dtype=np.int32))  # wrong dtype on purpose


@needs_audioop
def test_the_reference_decoders_the_stream_tests_use_match_audioop() -> None:
    assert audioop is not None
    np.testing.assert_array_equal(
        reference_ulaw_decode(ALL_CODES), np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype=np.int16)
    )
    np.testing.assert_array_equal(
        reference_alaw_decode(ALL_CODES), np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype=np.int16)
    )


def test_the_reference_decoders_give_the_published_extremes_and_zeros() -> None:
    # μ-law: 0x80/0x00 are the largest magnitudes (8031 x 4 = 32124), 0xFF and 0x7F both zero; A-law:
    # 0xAA/0x2A the largest (4032 x 8 = 32256), 0xD5/0x55 the smallest steps (+-8).
    assert reference_ulaw_decode(bytes([0x80, 0x00, 0xFF, 0x7F])).tolist() == [32124, -32124, 0, 0]
    assert reference_alaw_decode(bytes([0xAA, 0x2A, 0xD5, 0x55])).tolist() == [32256, -32256, 8, -8]
