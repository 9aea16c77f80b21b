"""Labelled audio for measuring the voice-activity detector: speech, and noise or music that is not speech.

Speech is the demo agent's recorded prompts (espeak-ng, 16 kHz, shipped in the media package: a long
sentence, short words and single digits). Noise and music are synthesised with numpy from a fixed seed, at
telephone levels: white, pink and brown noise, a mains hum with its harmonics, a ringback tone, and a
melody of harmonic notes changing every 250 ms (music on hold). Everything is returned at the rate asked.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import soxr

from callbridge.media.agents.demo import SAMPLE_RATE_HZ as PROMPT_RATE_HZ
from callbridge.media.agents.demo import prompt

Int16Array = npt.NDArray[np.int16]

SPEECH_PROMPTS: Final = ("greeting", "pressed", "goodbye", *(f"digit_{d}" for d in "0123456789"))
NOISE_S: Final = 10.0
SPEECH_LEVEL_THRESHOLD: Final = 500
"""A sample louder than this (-36 dBFS) is where speech starts in a prompt (they hold no noise)."""


def _resampled(samples: npt.NDArray[np.float64] | Int16Array, from_hz: int, to_hz: int) -> Int16Array:
    out = np.asarray(
        samples if from_hz == to_hz else soxr.resample(samples.astype(np.float64), from_hz, to_hz),
        dtype=np.float64,
    )
    clipped: Int16Array = np.clip(np.round(out), -32768, 32767).astype(np.int16)
    return clipped


def speech(rate_hz: int) -> dict[str, Int16Array]:
    """Each prompt at ``rate_hz``."""
    return {
        name: _resampled(np.frombuffer(prompt(name), dtype="<i2"), PROMPT_RATE_HZ, rate_hz)
        for name in SPEECH_PROMPTS
    }


def speech_start_s(pcm: Int16Array, rate_hz: int) -> float:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > SPEECH_LEVEL_THRESHOLD)
    return float(loud[0]) / rate_hz


def at_dbfs(samples: npt.NDArray[np.float64], dbfs: float) -> Int16Array:
    """``samples`` scaled to an RMS of ``dbfs`` (0 dBFS: RMS of full scale)."""
    rms = float(np.sqrt(np.mean(samples**2)))
    scaled = samples / rms * 32767 * 10 ** (dbfs / 20)
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def with_noise(pcm: Int16Array, snr_db: float, seed: int = 7) -> Int16Array:
    """``pcm`` plus white noise ``snr_db`` below the speech's own RMS (over its loud part)."""
    rng = np.random.default_rng(seed)
    voiced = pcm[np.abs(pcm.astype(np.int32)) > SPEECH_LEVEL_THRESHOLD].astype(np.float64)
    speech_rms = float(np.sqrt(np.mean(voiced**2)))
    noise = rng.standard_normal(len(pcm)) * speech_rms * 10 ** (-snr_db / 20)
    return np.clip(pcm + noise, -32768, 32767).astype(np.int16)


def non_speech(rate_hz: int, seed: int = 1) -> dict[str, Int16Array]:
    """Ten seconds of each kind of noise and music, at the levels a telephone line carries them."""
    rng = np.random.default_rng(seed)
    n = int(NOISE_S * rate_hz)
    t = np.arange(n) / rate_hz
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    pink = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), n)
    brown = np.cumsum(rng.standard_normal(n))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")  # no DC drift: a line has no DC
    hum = np.zeros(n)
    for harmonic in range(1, 8):
        hum += np.sin(2 * np.pi * 50 * harmonic * t) / harmonic
    ringback = (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t)) * ((t % 6.0) < 2.0)
    ringback += 1e-6 * white  # never all zeros: at_dbfs divides by the RMS
    return {
        "white noise -30 dBFS": at_dbfs(white, -30),
        "white noise -15 dBFS": at_dbfs(white, -15),
        "pink noise -20 dBFS": at_dbfs(pink, -20),
        "brown noise -20 dBFS": at_dbfs(brown, -20),
        "mains hum -20 dBFS": at_dbfs(hum, -20),
        "ringback -15 dBFS": at_dbfs(ringback, -15),
        "music -15 dBFS": at_dbfs(_melody(rng, t), -15),
        "line silence -65 dBFS": at_dbfs(white, -65),
    }


def _melody(rng: np.random.Generator, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    notes_hz = (220.0, 247.0, 262.0, 294.0, 330.0, 349.0, 392.0, 440.0)
    note = int(0.25 * len(t) / t[-1])
    out = np.zeros(len(t))
    for start in range(0, len(t), note):
        f = notes_hz[rng.integers(len(notes_hz))]
        tt = t[start : start + note] - t[start]
        for harmonic in range(1, 6):
            out[start : start + note] += np.exp(-3 * tt) * np.sin(2 * np.pi * f * harmonic * tt) / harmonic
    return out
