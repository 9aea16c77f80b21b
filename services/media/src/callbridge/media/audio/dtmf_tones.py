"""DTMF in band: the ITU-T Q.23 dual tones, synthesised and detected.

``synthesize`` renders key presses (``0-9*#A-D``, with ``w`` = 0.5 s and ``W`` = 1 s pauses) as PCM at any
stream rate, for providers that cannot send digits out of band. ``DtmfDetector`` recognises digits in a
caller's audio that the provider did not report as events.

The detector is a bank of single-bin DFTs (the quantity Goertzel's recurrence computes, evaluated as one
matrix product per block, which numpy runs far faster than a per-sample Python loop) over blocks of about
25 ms. A block holds a digit only when all of these hold, the checks of Q.24 and of every telephone-exchange
receiver:

- *energy*: the block is louder than ``min_level_dbfs`` (a whisper of line noise is not a key);
- *purity*: the strongest row tone and column tone together carry at least ``min_purity`` of the block's
  energy (speech and music spread their energy over many frequencies; a key press is two sines);
- *group dominance*: each of the two is stronger than every other tone of its group by ``min_dominance``;
- *twist*: the column tone is at most ``max_forward_twist_db`` above and ``max_reverse_twist_db`` below the
  row tone;
- *no harmonics*: neither tone's second harmonic is strong (a voice or an instrument has harmonics, a
  key press has none).

Each tone is probed at its nominal frequency and 1.5 % either side, so a key within Q.23's tolerance is not
lost between bins. Blocks overlap by half, and a digit is reported when
the same block decision holds for ``min_blocks`` blocks in a row (two blocks span about 38 ms: Q.24 asks that
40 ms tones be recognised) after at least as long without one, so a long press is one digit and two presses of
the same key separated by a gap are two.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
DIGITS = frozenset("".join(KEYPAD))
PAUSES_S = {"w": 0.5, "W": 1.0}
"""Pauses within a digit string, as telephone dialers write them."""

DEFAULT_TONE_S = 0.2
DEFAULT_SPACE_S = 0.1
ROW_LEVEL = 0.25
"""Peak amplitude of the row tone (full scale 1.0): about -15 dBFS, so the pair peaks well below clipping."""
PRE_EMPHASIS_DB = 2.0
"""The column tone is sent this much louder than the row tone, as telephones do, since lines attenuate higher
frequencies more."""

_FREQUENCY_TOLERANCE = 0.015
_BLOCK_S = 0.0256
"""205 samples at 8 kHz, the classic Goertzel block: narrow enough bins to tell neighbouring tones apart."""

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]


def _tones(digit: str) -> tuple[float, float]:
    for row, keys in enumerate(KEYPAD):
        column = keys.find(digit)
        if column >= 0:
            return ROWS_HZ[row], COLUMNS_HZ[column]
    raise ValueError(f"not a DTMF digit: {digit!r}")


def check_digits(digits: str) -> str:
    """``digits`` if every character is a key (``0-9*#A-D``) or a pause (``w``, ``W``); ValueError naming
    the first one that is not."""
    for char in digits:
        if char not in DIGITS and char not in PAUSES_S:
            raise ValueError(f"{char!r} is not a DTMF digit (0-9, *, #, A-D) or a pause (w, W)")
    return digits


def synthesize(
    digits: str,
    rate_hz: int,
    *,
    tone_s: float = DEFAULT_TONE_S,
    space_s: float = DEFAULT_SPACE_S,
) -> Int16Array:
    """The key presses as s16 PCM at ``rate_hz``: each key ``tone_s`` of its two tones followed by
    ``space_s`` of silence; ``w``/``W`` add half a second / a second of silence. Each tone starts and ends
    with a 2 ms ramp, so the key does not click."""
    check_digits(digits)
    if tone_s <= 0 or space_s < 0:
        raise ValueError("toneDuration must be positive and spaceDuration not negative")
    tone_n = max(1, round(tone_s * rate_hz))
    space_n = round(space_s * rate_hz)
    t = np.arange(tone_n) / rate_hz
    ramp_n = min(tone_n // 2, max(1, round(0.002 * rate_hz)))
    envelope = np.ones(tone_n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_n) / ramp_n)
    envelope[:ramp_n] = ramp
    envelope[tone_n - ramp_n :] = ramp[::-1]
    column_level = ROW_LEVEL * 10 ** (PRE_EMPHASIS_DB / 20)
    parts: list[FloatArray] = []
    for char in digits:
        if char in PAUSES_S:
            parts.append(np.zeros(round(PAUSES_S[char] * rate_hz)))
            continue
        low, high = _tones(char)
        tone = ROW_LEVEL * np.sin(2 * np.pi * low * t) + column_level * np.sin(2 * np.pi * high * t)
        parts.append(tone * envelope)
        parts.append(np.zeros(space_n))
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return np.round(np.concatenate(parts) * 32767).astype(np.int16)


@functools.cache
def _kernels(rate_hz: int, block_n: int) -> tuple[Float32Array, Float32Array]:
    """The single-bin DFT kernels of a block: the row and column tones (each at its nominal frequency and
    the tolerance either side), and their second harmonics. Real and imaginary parts side by side, so one
    real matrix product gives every bin of a block. Shared by every detector at a rate (read only): they are
    most of a detector's memory."""
    probes: list[float] = []
    for frequency in ROWS_HZ + COLUMNS_HZ:
        probes.extend(frequency * f for f in (1 - _FREQUENCY_TOLERANCE, 1.0, 1 + _FREQUENCY_TOLERANCE))
    harmonics = [2 * frequency for frequency in ROWS_HZ + COLUMNS_HZ]
    n = np.arange(block_n)

    def kernel(frequencies: list[float]) -> Float32Array:
        phases = 2 * np.pi * np.outer(n, np.array(frequencies)) / rate_hz
        matrix = np.concatenate([np.cos(phases), np.sin(phases)], axis=1).astype(np.float32)
        matrix.flags.writeable = False
        return matrix

    return kernel(probes), kernel(harmonics)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    min_level_dbfs: float = -40.0
    min_purity: float = 0.75
    min_dominance_db: float = 8.0
    max_forward_twist_db: float = 8.0
    max_reverse_twist_db: float = 6.0
    max_harmonic_ratio: float = 0.1
    """A tone's second harmonic may carry at most this share of the tone's power."""
    min_blocks: int = 2


class DtmfDetector:
    """Digits in a stream of s16 PCM at one rate: feed any number of samples at a time, read the digits
    recognised so far."""

    def __init__(self, rate_hz: int, settings: DetectorSettings | None = None) -> None:
        if rate_hz < 4000:
            raise ValueError(f"a {rate_hz} Hz stream cannot carry the 1633 Hz tone")
        self._settings = settings or DetectorSettings()
        self._block_n = round(_BLOCK_S * rate_hz)
        self._hop = self._block_n // 2
        self._tone_kernel, self._harmonic_kernel = _kernels(rate_hz, self._block_n)
        self._n_tone_probes = self._tone_kernel.shape[1] // 2
        self._min_energy = self._block_n * (32767 * 10 ** (self._settings.min_level_dbfs / 20)) ** 2 / 2
        self._pending: Float32Array = np.zeros(0, dtype=np.float32)
        self._current: str | None = None
        self._run = 0
        self._reported: str | None = None

    @property
    def block_samples(self) -> int:
        return self._block_n

    def feed(self, pcm: Int16Array) -> str:
        """Take the samples; answer the digits recognised in them (usually empty)."""
        floats = pcm.astype(np.float32)  # float32: half the memory traffic of the products below, ample range
        samples = np.concatenate([self._pending, floats]) if self._pending.size else floats
        block_n, hop = self._block_n, self._hop
        if samples.size < block_n:
            self._pending = samples
            return ""
        count = (samples.size - block_n) // hop + 1
        if float(np.dot(samples, samples)) < self._min_energy:
            # Quiet (most of a call: the caller listens): no block, a part of these samples, can be loud
            # enough to hold a key. One dot product instead of the analysis.
            self._pending = samples[count * hop :].copy()
            self._idle(count)
            return ""
        # Overlapping blocks as a view (no copy): block i starts at sample i * hop. (The ndarray constructor
        # costs a microsecond; numpy's sliding_window_view, checking its arguments, ten.)
        blocks: Float32Array = np.ndarray(
            (count, block_n), dtype=np.float32, buffer=samples, strides=(hop * 4, 4)
        )
        self._pending = samples[count * hop :].copy()
        energies = np.einsum("ij,ij->i", blocks, blocks)
        return "".join(digit for digit in self._decide_blocks(blocks, energies) if digit)

    def _decide_blocks(self, blocks: Float32Array, energies: Float32Array) -> Iterator[str | None]:
        """Each block's digit or None. The purity check runs on all blocks at once and rejects nearly every
        block of speech, music or silence; only the blocks that pass it get the other checks."""
        n = self._n_tone_probes
        bins = blocks @ self._tone_kernel
        tones = (bins[:, :n] ** 2 + bins[:, n:] ** 2).reshape(-1, 8, 3).max(axis=2)
        # A sinusoid of amplitude A gives |X|^2 = (N A / 2)^2 and energy N A^2 / 2: a pure tone scores 1.
        strongest = tones[:, :4].max(axis=1) + tones[:, 4:].max(axis=1)
        candidates = (2 * strongest >= self._settings.min_purity * self._block_n * energies) & (
            energies >= self._min_energy
        )
        if not candidates.any():
            self._idle(len(candidates))
            return
        for index, candidate in enumerate(candidates.tolist()):
            digit = self._block_digit(tones[index], self._harmonics(blocks[index])) if candidate else None
            yield self._step(digit)

    def _harmonics(self, block: Float32Array) -> Float32Array:
        """The powers at the second harmonic of each row and column tone: only for blocks that pass the
        purity check (a few in a key press), not for every block."""
        bins = block @ self._harmonic_kernel
        half = bins.size // 2
        result: Float32Array = bins[:half] ** 2 + bins[half:] ** 2
        return result

    def _idle(self, blocks: int) -> None:
        """``blocks`` blocks in a row without a key: what ``_step(None)`` does for each, at once."""
        if self._current is None:
            self._run += blocks
        else:
            self._current, self._run = None, blocks
        if self._run >= self._settings.min_blocks:
            self._reported = None

    def _block_digit(self, tones: Float32Array, harmonics: Float32Array) -> str | None:
        """The digit of a loud, pure block, if its two tones pass the group, twist and harmonic checks."""
        settings = self._settings
        rows, columns = tones[:4].tolist(), tones[4:].tolist()
        row = max(range(4), key=rows.__getitem__)
        column = max(range(4), key=columns.__getitem__)
        row_power, column_power = rows[row], columns[column]
        dominance = 10 ** (settings.min_dominance_db / 10)
        if any(other * dominance > row_power for i, other in enumerate(rows) if i != row):
            return None
        if any(other * dominance > column_power for i, other in enumerate(columns) if i != column):
            return None
        if not (
            row_power * 10 ** (-settings.max_reverse_twist_db / 10)
            <= column_power
            <= row_power * 10 ** (settings.max_forward_twist_db / 10)
        ):
            return None
        if harmonics[row] > settings.max_harmonic_ratio * row_power:
            return None
        if harmonics[4 + column] > settings.max_harmonic_ratio * column_power:
            return None
        return KEYPAD[row][column]

    def _step(self, digit: str | None) -> str | None:
        """Debounce: a digit needs ``min_blocks`` blocks in a row after as many without it."""
        settings = self._settings
        if digit == self._current:
            self._run += 1
        else:
            self._current, self._run = digit, 1
        if digit is None:
            if self._run >= settings.min_blocks:
                self._reported = None
            return None
        if self._run == settings.min_blocks and self._reported != digit:
            self._reported = digit
            return digit
        return None
