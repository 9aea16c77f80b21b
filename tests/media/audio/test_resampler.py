"""StreamResampler, measured: SINAD, stopband, delay, frame sizes, continuity and reset.

soxr at VHQ (non-streaming ``soxr.resample``) runs on the same signals as the quality and delay
reference; its figures are printed in the run summary (see conftest.py).
"""

from typing import Protocol

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from callbridge.media.audio.pcm import samples_per_frame
from callbridge.media.audio.resampler import (
    IN_BAND_FRACTION_OF_LOWER_NYQUIST,
    PassthroughResampler,
    StreamResampler,
    create_resampler,
)

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


class AudioFigures(Protocol):
    """The `audio_figures` fixture (conftest.py): collects figures for the run summary."""

    def record(
        self,
        measure: str,
        in_rate_hz: int,
        out_rate_hz: int,
        ours: float,
        soxr: float,
        *,
        higher_is_better: bool = True,
    ) -> None: ...


# Every conversion the bridge makes: provider rate ↔ agent rate.
RATE_PAIRS = [
    (8000, 16000),
    (16000, 8000),
    (8000, 24000),
    (24000, 8000),
    (16000, 24000),
    (24000, 16000),
    (8000, 48000),
    (48000, 8000),
    (16000, 48000),
    (48000, 16000),
]
DOWNSAMPLING_PAIRS = [(in_hz, out_hz) for in_hz, out_hz in RATE_PAIRS if out_hz < in_hz]
PAIR_IDS = [f"{in_hz // 1000}k-{out_hz // 1000}k" for in_hz, out_hz in RATE_PAIRS]
DOWN_IDS = [f"{in_hz // 1000}k-{out_hz // 1000}k" for in_hz, out_hz in DOWNSAMPLING_PAIRS]

# In-band tones as fractions of the lower Nyquist, the last at the 0.85 edge (3397 Hz with
# 8 kHz). Odd values keep the tones incommensurate with the rates, so rounding error is noise.
IN_BAND_FRACTIONS = (0.0743, 0.2493, 0.5999, 0.8493)
TONE_DBFS = -10.0
MIN_SINAD_DB = 70.0
MIN_STOPBAND_DB = 60.0
MAX_DELAY_MS = 3.0
SETTLE_MS = 20  # skipped at both ends before measuring: several filter lengths, for soxr too


def _amplitude(dbfs: float) -> float:
    return 32767 * 10 ** (dbfs / 20)


def _tone(freq_hz: float, rate_hz: int, duration_ms: int, dbfs: float = TONE_DBFS) -> Int16Array:
    time_s = np.arange(rate_hz * duration_ms // 1000) / rate_hz
    return np.round(_amplitude(dbfs) * np.sin(2 * np.pi * freq_hz * time_s)).astype(np.int16)


def _stream(resampler: StreamResampler, pcm: Int16Array, frame_ms: int = 20) -> list[Int16Array]:
    frame_len = samples_per_frame(resampler.in_rate_hz, frame_ms)
    return [resampler.process(pcm[start : start + frame_len]) for start in range(0, pcm.size, frame_len)]


def _settled(signal: npt.NDArray[np.generic], rate_hz: int) -> FloatArray:
    skip = rate_hz * SETTLE_MS // 1000
    return np.asarray(signal[skip:-skip], dtype=np.float64)


def _fit_tone(signal: FloatArray, freq_hz: float, rate_hz: int) -> FloatArray:
    """Least-squares fit of a sinusoid at a known frequency (any amplitude and phase)."""
    phase = 2 * np.pi * freq_hz * np.arange(signal.size) / rate_hz
    basis = np.column_stack([np.cos(phase), np.sin(phase)])
    coefficients, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    fitted: FloatArray = basis @ coefficients
    return fitted


def _sinad_db(signal: FloatArray, freq_hz: float, rate_hz: int) -> float:
    fitted = _fit_tone(signal, freq_hz, rate_hz)
    residual = signal - fitted
    return float(10 * np.log10(np.sum(fitted**2) / np.sum(residual**2)))


def _tone_amplitude(signal: FloatArray, freq_hz: float, rate_hz: int) -> float:
    return float(np.sqrt(2 * np.mean(_fit_tone(signal, freq_hz, rate_hz) ** 2)))


def _alias_hz(freq_hz: float, rate_hz: int) -> float:
    folded = freq_hz % rate_hz
    return min(folded, rate_hz - folded)


def _lag_samples(signal: FloatArray, reference: FloatArray, max_lag: int) -> float:
    """Lag of `signal` behind `reference` at the cross-correlation peak, to a fraction of a sample."""
    size = signal.size + reference.size
    correlation = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(reference, size)), size)
    lags = np.arange(-max_lag, max_lag + 1)
    values = correlation[lags]
    peak = int(np.argmax(values))
    below, at, above = values[peak - 1], values[peak], values[peak + 1]
    offset = 0.5 * (below - above) / (below - 2 * at + above)  # parabola through the peak
    return float(lags[peak] + offset)


@pytest.mark.parametrize("fraction", IN_BAND_FRACTIONS)
@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_in_band_tone_sinad_is_at_least_70_db(
    in_rate_hz: int, out_rate_hz: int, fraction: float, audio_figures: AudioFigures
) -> None:
    assert fraction <= IN_BAND_FRACTION_OF_LOWER_NYQUIST
    freq_hz = fraction * min(in_rate_hz, out_rate_hz) / 2
    pcm = _tone(freq_hz, in_rate_hz, duration_ms=500)

    ours = np.concatenate(_stream(StreamResampler(in_rate_hz, out_rate_hz), pcm))
    reference = soxr.resample(pcm, in_rate_hz, out_rate_hz, quality="VHQ")

    ours_db = _sinad_db(_settled(ours, out_rate_hz), freq_hz, out_rate_hz)
    soxr_db = _sinad_db(_settled(reference, out_rate_hz), freq_hz, out_rate_hz)
    audio_figures.record("in-band SINAD dB", in_rate_hz, out_rate_hz, ours_db, soxr_db)
    assert ours_db >= MIN_SINAD_DB, f"{freq_hz:.0f} Hz: ours {ours_db:.1f} dB, soxr VHQ {soxr_db:.1f} dB"


@pytest.mark.parametrize("position", [0.01, 0.1, 0.37, 0.95])
@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), DOWNSAMPLING_PAIRS, ids=DOWN_IDS)
def test_tone_above_output_nyquist_is_rejected_by_60_db(
    in_rate_hz: int, out_rate_hz: int, position: float, audio_figures: AudioFigures
) -> None:
    # `position` places the tone between the output Nyquist (0) and the input Nyquist (1); 0.01
    # is 40 Hz above 4 kHz for 16k→8k, where aliasing would land at the top of the band.
    freq_hz = out_rate_hz / 2 + position * (in_rate_hz - out_rate_hz) / 2
    alias_hz = _alias_hz(freq_hz, out_rate_hz)
    dbfs = -1.0  # loud, so that the attenuated alias stands well above int16 rounding
    pcm = _tone(freq_hz, in_rate_hz, duration_ms=500, dbfs=dbfs)

    ours = np.concatenate(_stream(StreamResampler(in_rate_hz, out_rate_hz), pcm))
    reference = soxr.resample(pcm, in_rate_hz, out_rate_hz, quality="VHQ")

    def rejection_db(output: npt.NDArray[np.int16]) -> float:
        alias = _tone_amplitude(_settled(output, out_rate_hz), alias_hz, out_rate_hz)
        # An alias below half a step rounds away entirely; count it as half a step (a lower bound).
        return float(20 * np.log10(_amplitude(dbfs) / max(alias, 0.5)))

    ours_db, soxr_db = rejection_db(ours), rejection_db(reference)
    audio_figures.record("stopband rejection dB (≥)", in_rate_hz, out_rate_hz, ours_db, soxr_db)
    assert ours_db >= MIN_STOPBAND_DB, f"{freq_hz:.0f} Hz → {alias_hz:.0f} Hz: {ours_db:.1f} dB"


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_delay_measured_by_cross_correlation_is_delay_ms_and_at_most_3_ms(
    in_rate_hz: int, out_rate_hz: int, audio_figures: AudioFigures
) -> None:
    # Band-limited multitone, generated analytically at both rates: the ideal output has no delay.
    rng = np.random.default_rng(in_rate_hz + out_rate_hz)
    top_hz = IN_BAND_FRACTION_OF_LOWER_NYQUIST * min(in_rate_hz, out_rate_hz) / 2
    freqs_hz = rng.uniform(100, top_hz, size=40)
    phases = rng.uniform(0, 2 * np.pi, size=40)

    def multitone(rate_hz: int) -> FloatArray:
        time_s = np.arange(rate_hz // 2) / rate_hz
        waves: FloatArray = np.sin(2 * np.pi * freqs_hz[:, None] * time_s + phases[:, None]).sum(axis=0)
        return waves

    scale = _amplitude(TONE_DBFS) / np.max(np.abs(multitone(in_rate_hz)))
    pcm = np.round(scale * multitone(in_rate_hz)).astype(np.int16)
    ideal = scale * multitone(out_rate_hz)
    resampler = StreamResampler(in_rate_hz, out_rate_hz)
    ours = np.concatenate(_stream(resampler, pcm)).astype(np.float64)
    reference = soxr.resample(pcm, in_rate_hz, out_rate_hz, quality="VHQ").astype(np.float64)

    max_lag = out_rate_hz // 100  # ±10 ms
    ours_ms = 1000 * _lag_samples(ours, ideal, max_lag) / out_rate_hz
    soxr_ms = 1000 * _lag_samples(reference, ideal, max_lag) / out_rate_hz
    audio_figures.record("delay ms", in_rate_hz, out_rate_hz, ours_ms, soxr_ms, higher_is_better=False)
    sample_ms = 1000 / out_rate_hz
    assert abs(soxr_ms) < sample_ms  # the method finds soxr's zero-delay output at zero
    assert abs(ours_ms - resampler.delay_ms) < sample_ms
    assert ours_ms <= MAX_DELAY_MS


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_500_frames_in_give_500_full_frames_out_without_bursts(in_rate_hz: int, out_rate_hz: int) -> None:
    freq_hz = 997.0
    pcm = _tone(freq_hz, in_rate_hz, duration_ms=500 * 20)
    resampler = StreamResampler(in_rate_hz, out_rate_hz)
    frames = _stream(resampler, pcm)

    assert len(frames) == 500
    assert {frame.size for frame in frames} == {samples_per_frame(out_rate_hz)}
    # Every frame carries its own 20 ms of tone: nothing held back, nothing bunched up. The first
    # frame is only short of the start-up delay.
    expected_rms = _amplitude(TONE_DBFS) / np.sqrt(2)
    rms_db = [
        20 * np.log10(np.sqrt(np.mean(frame.astype(np.float64) ** 2)) / expected_rms) for frame in frames
    ]
    assert max(abs(level) for level in rms_db[1:]) < 0.2
    delay_samples = int(np.ceil(resampler.delay_ms * out_rate_hz / 1000))
    first_rms = np.sqrt(np.mean(frames[0][delay_samples:].astype(np.float64) ** 2))
    assert abs(20 * np.log10(first_rms / expected_rms)) < 0.5


@pytest.mark.parametrize("frame_ms", [10, 30, 40, 60])
@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_frames_of_any_multiple_of_10ms_keep_their_duration(
    in_rate_hz: int, out_rate_hz: int, frame_ms: int
) -> None:
    resampler = StreamResampler(in_rate_hz, out_rate_hz)
    pcm = _tone(997.0, in_rate_hz, duration_ms=10 * frame_ms)
    frames = _stream(resampler, pcm, frame_ms)
    assert {frame.size for frame in frames} == {samples_per_frame(out_rate_hz, frame_ms)}


def _noise(rate_hz: int, duration_ms: int, seed: int) -> Int16Array:
    # White noise fills the whole input band, including what the filter must remove.
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, _amplitude(TONE_DBFS) / 2, size=rate_hz * duration_ms // 1000)
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_frame_by_frame_output_equals_one_pass_output(in_rate_hz: int, out_rate_hz: int) -> None:
    pcm = _noise(in_rate_hz, duration_ms=2000, seed=in_rate_hz * 3 + out_rate_hz)
    framed = np.concatenate(_stream(StreamResampler(in_rate_hz, out_rate_hz), pcm))
    one_pass = StreamResampler(in_rate_hz, out_rate_hz).process(pcm)
    assert framed.size == one_pass.size == pcm.size * out_rate_hz // in_rate_hz
    # Same filter state at every frame boundary: identical up to float summation order.
    assert np.max(np.abs(framed.astype(np.int32) - one_pass)) <= 1


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_chunks_of_odd_sizes_carry_the_remainder(in_rate_hz: int, out_rate_hz: int) -> None:
    pcm = _noise(in_rate_hz, duration_ms=500, seed=11)
    rng = np.random.default_rng(5)
    cuts = np.cumsum(rng.integers(1, 97, size=pcm.size))
    cuts = cuts[cuts < pcm.size]
    resampler = StreamResampler(in_rate_hz, out_rate_hz)
    reduced = np.gcd(in_rate_hz, out_rate_hz)
    up, down = out_rate_hz // reduced, in_rate_hz // reduced
    pieces, samples_in, samples_out = [], 0, 0
    for chunk in np.split(pcm, cuts):
        pieces.append(resampler.process(chunk))
        samples_in += chunk.size
        samples_out += pieces[-1].size
        # Output is released as soon as a whole group of `down` inputs is in, never later.
        assert samples_out == samples_in // down * up
    one_pass = StreamResampler(in_rate_hz, out_rate_hz).process(pcm)
    joined = np.concatenate(pieces)
    assert joined.size == one_pass.size == pcm.size * out_rate_hz // in_rate_hz
    assert np.max(np.abs(joined.astype(np.int32) - one_pass)) <= 1


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_reset_clears_history(in_rate_hz: int, out_rate_hz: int) -> None:
    loud = _noise(in_rate_hz, duration_ms=100, seed=3)
    silence = np.zeros(samples_per_frame(in_rate_hz), dtype=np.int16)
    speech = _noise(in_rate_hz, duration_ms=100, seed=4)

    resampler = StreamResampler(in_rate_hz, out_rate_hz)
    _stream(resampler, loud)
    assert np.any(resampler.process(silence) != 0)  # without a reset, the tail of `loud` rings on

    _stream(resampler, loud)
    resampler.reset()
    assert not np.any(resampler.process(silence))

    _stream(resampler, loud)
    resampler.reset()
    after_reset = np.concatenate(_stream(resampler, speech))
    fresh = np.concatenate(_stream(StreamResampler(in_rate_hz, out_rate_hz), speech))
    np.testing.assert_array_equal(after_reset, fresh)


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), RATE_PAIRS, ids=PAIR_IDS)
def test_constant_input_comes_out_unchanged(in_rate_hz: int, out_rate_hz: int) -> None:
    # Unity DC gain in every polyphase branch (no buzz at the input rate) and rounding to nearest.
    for level in (1000, -1000, 30000, -30000):
        constant = np.full(samples_per_frame(in_rate_hz) * 5, level, dtype=np.int16)
        output = np.concatenate(_stream(StreamResampler(in_rate_hz, out_rate_hz), constant))
        settled = output[samples_per_frame(out_rate_hz) :]
        np.testing.assert_array_equal(settled, np.full(settled.size, level, dtype=np.int16))


def test_full_scale_overshoot_saturates_instead_of_wrapping() -> None:
    # A full-scale square wave rings above 32767 after band-limiting; the output must clip there.
    square = np.where(np.arange(1600) % 40 < 20, 32767, -32768).astype(np.int16)  # 200 Hz at 8 kHz
    resampler = StreamResampler(8000, 16000)
    output = np.concatenate(_stream(resampler, square)).astype(np.int32)
    assert output.max() == 32767
    assert output.min() == -32768
    # Wrapping would flip the sign of overshooting samples: the output must follow the input's
    # half-periods (80 samples at 16 kHz), shifted by the delay, away from the edges.
    delay_samples = round(resampler.delay_ms * 16)
    phase = (np.arange(output.size) - delay_samples) % 80
    settled = np.arange(output.size) >= 80
    assert np.all(output[settled & (phase >= 4) & (phase < 36)] > 16000)
    assert np.all(output[settled & (phase >= 44) & (phase < 76)] < -16000)


def test_equal_rates_give_a_free_pass_through() -> None:
    resampler = create_resampler(16000, 16000)
    pcm = _tone(997.0, 16000, duration_ms=20)
    assert isinstance(resampler, PassthroughResampler)
    assert resampler.process(pcm) is pcm
    assert resampler.delay_ms == 0.0
    resampler.reset()


def test_different_rates_give_a_stream_resampler() -> None:
    resampler = create_resampler(8000, 24000)
    assert isinstance(resampler, StreamResampler)
    assert 0.0 < resampler.delay_ms <= MAX_DELAY_MS


@pytest.mark.parametrize(("in_rate_hz", "out_rate_hz"), [(44100, 8000), (8000, 22050), (11025, 11025)])
def test_unsupported_rates_are_refused(in_rate_hz: int, out_rate_hz: int) -> None:
    with pytest.raises(ValueError, match="unsupported sample rate"):
        create_resampler(in_rate_hz, out_rate_hz)


def test_non_int16_input_is_refused() -> None:
    resampler = create_resampler(8000, 16000)
    with pytest.raises(TypeError, match="int16"):
        resampler.process(np.zeros(160, dtype=np.float32))  # wrong dtype on purpose
    with pytest.raises(TypeError, match="int16"):
        resampler.process(np.zeros((2, 160), dtype=np.int16))
