"""Test signals and audio measurements: tones, chirps, WAV files, SINAD and delay.

Levels follow AES17: 0 dBFS is a full-scale sine (peak 32767), so a tone at ``dbfs=-6`` peaks at about 16422
and white noise at ``rms_dbfs=-6`` has the RMS of that tone.
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "FULL_SCALE",
    "chirp",
    "dbfs_to_peak",
    "delay_samples",
    "multitone",
    "read_wav",
    "silence",
    "sinad_db",
    "to_int16",
    "tone",
    "white_noise",
    "write_wav",
]

FULL_SCALE = 32767
"""Peak of a full-scale int16 sine (0 dBFS)."""

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


def dbfs_to_peak(dbfs: float) -> float:
    """Peak amplitude, in int16 units, of a sine at ``dbfs``."""
    return float(FULL_SCALE * 10.0 ** (dbfs / 20.0))


def to_int16(samples: npt.ArrayLike) -> Int16Array:
    """Round float samples (int16 scale) to int16, clipping at full scale instead of wrapping."""
    rounded = np.rint(np.asarray(samples, dtype=np.float64))
    return np.clip(rounded, -32768, 32767).astype(np.int16)


def _times(duration_s: float, rate_hz: int) -> FloatArray:
    if duration_s < 0:
        raise ValueError(f"duration_s must be >= 0, got {duration_s}")
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    return np.arange(round(duration_s * rate_hz), dtype=np.float64) / rate_hz


def silence(duration_s: float, rate_hz: int = 8000) -> Int16Array:
    """Digital silence."""
    return np.zeros(len(_times(duration_s, rate_hz)), dtype=np.int16)


def tone(
    freq_hz: float, duration_s: float, rate_hz: int = 8000, dbfs: float = -6.0, *, phase_rad: float = 0.0
) -> Int16Array:
    """A sine at ``freq_hz`` whose peak is ``dbfs`` relative to full scale."""
    t = _times(duration_s, rate_hz)
    return to_int16(dbfs_to_peak(dbfs) * np.sin(2.0 * math.pi * freq_hz * t + phase_rad))


def multitone(
    freqs_hz: Sequence[float], duration_s: float, rate_hz: int = 8000, dbfs: float = -6.0
) -> Int16Array:
    """A sum of equal-amplitude sines whose combined peak cannot exceed ``dbfs``.

    Each tone is at ``dbfs - 20·log10(len(freqs_hz))``, so the worst-case in-phase sum still fits; the phases
    are spread (Schroeder-style) to keep the crest factor low.
    """
    if not freqs_hz:
        raise ValueError("freqs_hz must not be empty")
    t = _times(duration_s, rate_hz)
    count = len(freqs_hz)
    amplitude = dbfs_to_peak(dbfs) / count
    total = np.zeros_like(t)
    for index, freq_hz in enumerate(freqs_hz):
        phase_rad = math.pi * index * index / count
        total += amplitude * np.sin(2.0 * math.pi * freq_hz * t + phase_rad)
    return to_int16(total)


def chirp(
    start_hz: float, end_hz: float, duration_s: float, rate_hz: int = 8000, dbfs: float = -6.0
) -> Int16Array:
    """A linear sweep from ``start_hz`` to ``end_hz``; its sharp autocorrelation makes delay easy to find."""
    t = _times(duration_s, rate_hz)
    if duration_s == 0:
        return np.zeros(0, dtype=np.int16)
    sweep_hz_per_s = (end_hz - start_hz) / duration_s
    phase = 2.0 * math.pi * (start_hz * t + 0.5 * sweep_hz_per_s * t * t)
    return to_int16(dbfs_to_peak(dbfs) * np.sin(phase))


def white_noise(
    duration_s: float, rate_hz: int = 8000, rms_dbfs: float = -20.0, *, seed: int = 0
) -> Int16Array:
    """Gaussian white noise with the RMS of a sine at ``rms_dbfs`` (reproducible for a given seed)."""
    t = _times(duration_s, rate_hz)
    rms = dbfs_to_peak(rms_dbfs) / math.sqrt(2.0)
    rng = np.random.default_rng(seed)
    return to_int16(rng.normal(0.0, rms, size=len(t)))


def read_wav(path: str | os.PathLike[str]) -> tuple[Int16Array, int]:
    """Read an integer-PCM WAV file as int16 mono (channels averaged) and its sample rate in Hz."""
    try:
        with wave.open(os.fspath(path), "rb") as reader:
            channels = reader.getnchannels()
            sample_width = reader.getsampwidth()
            rate_hz = reader.getframerate()
            raw = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        # wave only reads WAVE_FORMAT_PCM; float, μ-law or extensible files land here.
        raise ValueError(f"{os.fspath(path)}: not an integer-PCM WAV file ({exc})") from exc
    samples = _pcm_to_int16(raw, sample_width)
    if channels > 1:
        frames = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
        samples = to_int16(frames.astype(np.float64).mean(axis=1))
    return samples, rate_hz


def _pcm_to_int16(raw: bytes, sample_width: int) -> Int16Array:
    # WAV PCM is little-endian; 8-bit samples are unsigned, wider ones signed.
    if sample_width == 1:
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    if sample_width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if sample_width == 3:
        triples = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3)
        # The top two bytes of a 24-bit sample are its int16 value (truncation, like 32-bit below).
        return (triples[:, 1].astype(np.uint16) | (triples[:, 2].astype(np.uint16) << 8)).view(np.int16)
    if sample_width == 4:
        return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    raise ValueError(f"unsupported WAV sample width: {sample_width} bytes")


def write_wav(path: str | os.PathLike[str], samples: npt.ArrayLike, rate_hz: int = 8000) -> None:
    """Write int16 mono samples as a 16-bit PCM WAV file."""
    pcm = np.asarray(samples)
    if pcm.dtype != np.int16:
        raise TypeError(f"samples must be int16, got {pcm.dtype}")
    if pcm.ndim != 1:
        raise ValueError(f"samples must be mono (1-D), got shape {pcm.shape}")
    with wave.open(os.fspath(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate_hz)
        writer.writeframes(pcm.astype("<i2").tobytes())


def sinad_db(signal: npt.ArrayLike, freq_hz: float, rate_hz: int = 8000) -> float:
    """SINAD of a tone at a known frequency, in dB.

    Fits ``a·cos + b·sin + c`` at ``freq_hz`` by least squares; SINAD is the fitted tone's power over the
    power of what remains. DC is fitted away and counts as neither signal nor noise. Returns ``inf`` when
    the residual is exactly zero.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or len(x) < 4:
        raise ValueError("signal must be 1-D with at least 4 samples")
    omega = 2.0 * math.pi * freq_hz / rate_hz
    n = np.arange(len(x), dtype=np.float64)
    basis = np.column_stack((np.cos(omega * n), np.sin(omega * n), np.ones_like(n)))
    coefficients, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fitted_tone = basis[:, :2] @ coefficients[:2]
    residual = x - fitted_tone - coefficients[2]
    tone_power = float(np.mean(fitted_tone * fitted_tone))
    residual_power = float(np.mean(residual * residual))
    if residual_power == 0.0:
        return math.inf
    if tone_power == 0.0:
        return -math.inf
    return 10.0 * math.log10(tone_power / residual_power)


def delay_samples(
    reference: npt.ArrayLike, received: npt.ArrayLike, *, max_lag_samples: int | None = None
) -> int:
    """Lag, in samples, at which ``received`` best matches ``reference`` (positive: received is later).

    The peak of the FFT cross-correlation of the mean-removed signals, searched over every lag from
    ``-(len(reference) - 1)`` to ``len(received) - 1``, or within ``±max_lag_samples``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(received, dtype=np.float64)
    if ref.ndim != 1 or rec.ndim != 1 or len(ref) == 0 or len(rec) == 0:
        raise ValueError("reference and received must be non-empty 1-D arrays")
    ref = ref - ref.mean()
    rec = rec - rec.mean()
    size = 1 << (len(ref) + len(rec) - 1).bit_length()
    # correlation[k] = Σ_n rec[n + k]·ref[n]; negative lags wrap to the end of the circular result.
    correlation = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.concatenate((np.arange(0, len(rec)), np.arange(-(len(ref) - 1), 0)))
    values = np.concatenate((correlation[: len(rec)], correlation[size - (len(ref) - 1) :]))
    if max_lag_samples is not None:
        keep = np.abs(lags) <= max_lag_samples
        lags, values = lags[keep], values[keep]
    return int(lags[int(np.argmax(values))])
