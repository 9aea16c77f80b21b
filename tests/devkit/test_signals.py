"""Tests for the test-signal generators and audio measurements in callbridge.devkit.signals."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

from callbridge.devkit.signals import (
    chirp,
    dbfs_to_peak,
    delay_samples,
    multitone,
    read_wav,
    silence,
    sinad_db,
    tone,
    white_noise,
    write_wav,
)

RATE_HZ = 8000


def test_tone_has_requested_length_peak_and_frequency() -> None:
    signal = tone(1000.0, 0.5, RATE_HZ, dbfs=-6.0)

    assert signal.dtype == np.int16
    assert len(signal) == 4000
    assert abs(int(np.max(np.abs(signal))) - dbfs_to_peak(-6.0)) <= 1
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64)))
    assert np.argmax(spectrum) * RATE_HZ / len(signal) == pytest.approx(1000.0)


def test_multitone_never_clips_and_contains_every_tone() -> None:
    freqs_hz = [300.0, 1100.0, 2700.0]
    signal = multitone(freqs_hz, 1.0, RATE_HZ, dbfs=0.0)

    assert int(np.max(np.abs(signal.astype(np.int32)))) <= 32767
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64)))
    peaks_hz = sorted(float(i) for i in np.argsort(spectrum)[-3:])
    assert peaks_hz == freqs_hz


def test_chirp_sweeps_from_start_to_end_frequency() -> None:
    signal = chirp(200.0, 3000.0, 1.0, RATE_HZ).astype(np.float64)

    def dominant_hz(segment: np.ndarray) -> float:
        return float(np.argmax(np.abs(np.fft.rfft(segment)))) * RATE_HZ / len(segment)

    assert dominant_hz(signal[:800]) < 500.0
    assert dominant_hz(signal[-800:]) > 2700.0


def test_silence_is_all_zero() -> None:
    assert not silence(0.1, RATE_HZ).any()
    assert len(silence(0.1, RATE_HZ)) == 800


def test_sinad_of_clean_int16_tone_is_near_quantisation_limit() -> None:
    # A -1 dBFS int16 sine is limited by rounding noise at about 6.02·16 + 1.76 - 1 ≈ 97 dB.
    assert sinad_db(tone(1000.0, 1.0, RATE_HZ, dbfs=-1.0), 1000.0, RATE_HZ) > 90.0


@pytest.mark.parametrize("snr_db", [10.0, 30.0, 50.0])
def test_sinad_of_tone_plus_noise_matches_known_snr(snr_db: float) -> None:
    clean = tone(1020.0, 2.0, RATE_HZ, dbfs=-6.0).astype(np.float64)
    noise_rms = math.sqrt(float(np.mean(clean * clean))) / 10.0 ** (snr_db / 20.0)
    noise = np.random.default_rng(7).normal(0.0, noise_rms, size=len(clean))

    assert sinad_db(clean + noise + 123.0, 1020.0, RATE_HZ) == pytest.approx(snr_db, abs=1.0)


def test_sinad_ignores_dc_offset() -> None:
    signal = tone(440.0, 1.0, RATE_HZ, dbfs=-12.0).astype(np.float64) + 5000.0

    assert sinad_db(signal, 440.0, RATE_HZ) > 80.0


def test_sinad_of_wrong_frequency_is_very_low() -> None:
    assert sinad_db(tone(440.0, 1.0, RATE_HZ), 1000.0, RATE_HZ) < -20.0


def test_white_noise_has_requested_rms() -> None:
    noise = white_noise(2.0, RATE_HZ, rms_dbfs=-20.0, seed=1).astype(np.float64)

    expected_rms = dbfs_to_peak(-20.0) / math.sqrt(2.0)
    assert math.sqrt(float(np.mean(noise * noise))) == pytest.approx(expected_rms, rel=0.02)


@pytest.mark.parametrize("shift", [0, 1, 37, 813])
def test_delay_of_shifted_signal_is_found_exactly(shift: int) -> None:
    reference = chirp(300.0, 3400.0, 0.25, RATE_HZ)
    received = np.concatenate((np.zeros(shift, dtype=np.int16), reference, np.zeros(100, dtype=np.int16)))

    assert delay_samples(reference, received) == shift


def test_delay_can_be_negative_and_found_in_noise() -> None:
    reference = white_noise(0.5, RATE_HZ, rms_dbfs=-10.0, seed=3)
    noise = np.random.default_rng(4).normal(0.0, 2000.0, len(reference) - 25)
    received = reference[25:].astype(np.float64) + noise

    assert delay_samples(reference, received) == -25


def test_delay_search_can_be_limited() -> None:
    reference = tone(500.0, 0.2, RATE_HZ)  # periodic: peaks every 16 samples, the true one at 3
    received = np.concatenate((np.zeros(3, dtype=np.int16), reference))

    assert delay_samples(reference, received, max_lag_samples=5) == 3


def test_wav_round_trip_is_bit_exact(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    samples = tone(700.0, 0.3, RATE_HZ, dbfs=-3.0)

    write_wav(path, samples, RATE_HZ)
    read_back, rate_hz = read_wav(path)

    assert rate_hz == RATE_HZ
    assert read_back.dtype == np.int16
    np.testing.assert_array_equal(read_back, samples)


def test_read_wav_averages_stereo_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left = np.array([1000, -2000, 300], dtype="<i2")
    right = np.array([3000, 2000, -301], dtype="<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(np.column_stack((left, right)).tobytes())

    samples, rate_hz = read_wav(path)

    assert rate_hz == 16000
    assert samples.tolist() == [2000, 0, 0]


def test_read_wav_converts_8_bit_unsigned(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(bytes([128, 255, 0]))

    samples, _ = read_wav(path)

    assert samples.tolist() == [0, 127 << 8, -32768]


def test_read_wav_rejects_non_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "not.wav"
    path.write_bytes(b"this is not a RIFF file")

    with pytest.raises(ValueError, match="not an integer-PCM WAV"):
        read_wav(path)


def test_write_wav_rejects_float_samples(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int16"):
        write_wav(tmp_path / "x.wav", np.zeros(10), RATE_HZ)
