"""DTMF in band: Q.23 tones synthesised at every stream rate survive the codecs and are recognised; speech
and music are not."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from callbridge.media.audio.dtmf_tones import (
    COLUMNS_HZ,
    KEYPAD,
    ROWS_HZ,
    DetectorSettings,
    DtmfDetector,
    check_digits,
    synthesize,
)
from callbridge.media.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from tests.media.audio.talkoff import espeak_available, music, speech

ALL_KEYS = "0123456789*#ABCD"
Int16Array = npt.NDArray[np.int16]


def detect(
    pcm: Int16Array, rate_hz: int, *, frame_ms: int = 20, settings: DetectorSettings | None = None
) -> str:
    """Feed the detector frame by frame, as the media service does."""
    detector = DtmfDetector(rate_hz, settings)
    step = rate_hz * frame_ms // 1000
    return "".join(detector.feed(pcm[i : i + step]) for i in range(0, pcm.size, step))


def ulaw(pcm: Int16Array) -> Int16Array:
    return ulaw_decode(ulaw_encode(pcm))


def alaw(pcm: Int16Array) -> Int16Array:
    return alaw_decode(alaw_encode(pcm))


@pytest.mark.parametrize("rate_hz", [8000, 16000, 24000, 48000])
def test_every_key_is_recognised_at_every_rate(rate_hz: int) -> None:
    assert detect(synthesize(ALL_KEYS, rate_hz), rate_hz) == ALL_KEYS


@pytest.mark.parametrize("codec", [ulaw, alaw], ids=["pcmu", "pcma"])
def test_tones_survive_g711(codec: object) -> None:
    assert callable(codec)
    assert detect(codec(synthesize(ALL_KEYS, 8000)), 8000) == ALL_KEYS


def test_tones_have_the_q23_frequencies() -> None:
    rate = 8000
    for row, keys in enumerate(KEYPAD):
        for column, key in enumerate(keys):
            pcm = synthesize(key, rate, tone_s=1.0, space_s=0.0).astype(np.float64)
            spectrum = np.abs(np.fft.rfft(pcm))
            frequencies = np.fft.rfftfreq(pcm.size, 1 / rate)
            peaks = sorted(frequencies[np.argsort(spectrum)[-2:]])
            assert peaks == pytest.approx([ROWS_HZ[row], COLUMNS_HZ[column]], abs=1.0)


def test_pauses_and_durations() -> None:
    rate = 8000
    assert synthesize("1", rate, tone_s=0.2, space_s=0.1).size == round(0.3 * rate)
    assert synthesize("1w2", rate).size == round((0.3 + 0.5 + 0.3) * rate)
    assert synthesize("W", rate).size == rate
    assert synthesize("", rate).size == 0
    assert detect(synthesize("1w2W3", rate), rate) == "123"


@pytest.mark.parametrize("bad", ["x", "12e", " ", "5,"])
def test_only_keys_and_pauses_are_accepted(bad: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        check_digits(bad)
    with pytest.raises(ValueError, match="not a DTMF digit"):
        synthesize(bad, 8000)


def test_a_long_press_is_one_digit_and_repeated_presses_are_each_counted() -> None:
    rate = 8000
    assert detect(synthesize("5", rate, tone_s=2.0), rate) == "5"
    assert detect(synthesize("555", rate, tone_s=0.1, space_s=0.1), rate) == "555"


def test_q24_durations_40ms_accepted_20ms_rejected() -> None:
    rate = 8000
    assert detect(ulaw(synthesize("159#", rate, tone_s=0.04, space_s=0.05)), rate) == "159#"
    assert detect(synthesize("159#", rate, tone_s=0.02, space_s=0.05), rate) == ""


def _pair(
    row_hz: float, column_hz: float, rate: int, *, twist_db: float = 0.0, seconds: float = 0.1
) -> Int16Array:
    t = np.arange(round(seconds * rate)) / rate
    level = 0.3
    tone = level * np.sin(2 * np.pi * row_hz * t) + level * 10 ** (twist_db / 20) * np.sin(
        2 * np.pi * column_hz * t
    )
    gap = np.zeros(round(0.1 * rate))
    return np.round(np.concatenate([tone, gap]) * 32767).astype(np.int16)


@pytest.mark.parametrize("offset", [-0.015, 0.0, 0.015])
def test_keys_within_the_frequency_tolerance_are_recognised(offset: float) -> None:
    rate = 8000
    pcm = np.concatenate(
        [
            _pair(ROWS_HZ[r] * (1 + offset), COLUMNS_HZ[c] * (1 + offset), rate)
            for r in range(4)
            for c in range(4)
        ]
    )
    expected = "".join(KEYPAD[r][c] for r in range(4) for c in range(4))
    assert detect(ulaw(pcm), rate) == expected


@pytest.mark.parametrize(("twist_db", "expected"), [(-4.0, "1"), (4.0, "1"), (-12.0, ""), (14.0, "")])
def test_twist(twist_db: float, expected: str) -> None:
    assert detect(_pair(697.0, 1209.0, 8000, twist_db=twist_db), 8000) == expected


def test_a_single_tone_and_quiet_keys_are_not_digits() -> None:
    rate = 8000
    t = np.arange(rate) / rate
    single = np.round(0.5 * np.sin(2 * np.pi * 697.0 * t) * 32767).astype(np.int16)
    assert detect(single, rate) == ""
    quiet = (synthesize(ALL_KEYS, rate).astype(np.float64) * 10 ** (-40 / 20)).astype(np.int16)  # ~-55 dBFS
    assert detect(quiet, rate) == ""


def test_keys_are_recognised_in_noise() -> None:
    rate = 8000
    keys = synthesize(ALL_KEYS, rate)
    noise = np.random.default_rng(5).normal(0, 0.03 * 32767, keys.size)  # about 18 dB below the tones
    noisy = np.clip(keys + noise, -32768, 32767).astype(np.int16)
    assert detect(ulaw(noisy), rate) == ALL_KEYS


def test_frame_size_does_not_matter() -> None:
    rate = 16000
    pcm = synthesize("0*#D", rate)
    assert {detect(pcm, rate, frame_ms=ms) for ms in (10, 20, 60, 100)} == {"0*#D"}
    detector = DtmfDetector(rate)
    assert "".join(detector.feed(pcm[i : i + 1]) for i in range(pcm.size)) == "0*#D"


def test_the_detector_refuses_rates_that_cannot_carry_the_tones() -> None:
    with pytest.raises(ValueError, match="1633"):
        DtmfDetector(2000)


@pytest.mark.slow
def test_no_false_digit_in_an_hour_of_speech_and_music() -> None:
    """Half an hour of speech (many voices, speeds, pitches, levels) and half an hour of music, through
    μ-law as a phone line carries them: not one digit. The same audio through a detector without the purity
    and harmonic checks finds dozens, so this audio can catch a detector that is too eager."""
    assert espeak_available(), "espeak-ng is missing: `make setup` installs it (Debian package espeak-ng)"
    rate = 8000
    talk = ulaw(speech(1800, rate))
    tunes = ulaw(music(1800, rate))
    assert (detect(talk, rate, frame_ms=100), detect(tunes, rate, frame_ms=100)) == ("", "")
    eager = DetectorSettings(min_purity=0.4, min_dominance_db=4, max_harmonic_ratio=10)
    assert (
        len(
            detect(talk, rate, frame_ms=100, settings=eager)
            + detect(tunes, rate, frame_ms=100, settings=eager)
        )
        > 10
    )
