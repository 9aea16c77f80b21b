"""The keys in a stream of audio, as a phone menu's DTMF receiver hears them: a plain Goertzel reader.

The simulators' own (they import nothing of the media service), and simple on purpose: non-overlapping
blocks of about 25 ms, each probed at the eight ITU-T Q.23 frequencies (the quantity Goertzel's recurrence
computes, as two matrix products); a block holds a key when it is louder than about -40 dBFS, the
strongest row tone and the strongest column tone are each 6 dB above the others of their group, and
together they carry at least half the block's energy. A key is a run of at least two such blocks (about
50 ms; Q.24 keys last 40 ms or more), after a block without it. Media's tests read the tones it sends with
this reader, so they check media's tones against a receiver that shares no code with media's detector.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["DtmfReader", "read_keys"]

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
_BLOCK_S = 0.025
_MIN_RMS = 300.0  # about -40 dBFS
_GROUP_MARGIN = 4.0  # 6 dB in power
_MIN_SHARE = 0.5


class DtmfReader:
    """Feed s16 PCM at one rate, any number of samples at a time; each call answers the keys completed."""

    def __init__(self, rate_hz: int) -> None:
        self._block_n = round(_BLOCK_S * rate_hz)
        n = np.arange(self._block_n)
        phases = 2 * np.pi * np.outer(n, ROWS_HZ + COLUMNS_HZ) / rate_hz
        self._cos, self._sin = np.cos(phases), np.sin(phases)
        self._pending = np.zeros(0)
        self._current: str | None = None
        self._run = 0

    def feed(self, pcm: npt.NDArray[np.int16]) -> str:
        samples = np.concatenate([self._pending, pcm.astype(np.float64)])
        count = samples.size // self._block_n
        self._pending = samples[count * self._block_n :]
        keys = []
        for block in samples[: count * self._block_n].reshape(count, self._block_n):
            key = self._block_key(block)
            if key == self._current:
                self._run += 1
            else:
                self._current, self._run = key, 1
            if key is not None and self._run == 2:
                keys.append(key)
        return "".join(keys)

    def _block_key(self, block: npt.NDArray[np.float64]) -> str | None:
        energy = float(block @ block)
        if energy < block.size * _MIN_RMS**2:
            return None
        powers = (block @ self._cos) ** 2 + (block @ self._sin) ** 2
        rows, columns = powers[:4], powers[4:]
        row, column = int(np.argmax(rows)), int(np.argmax(columns))
        if np.sort(rows)[-2] * _GROUP_MARGIN > rows[row]:
            return None
        if np.sort(columns)[-2] * _GROUP_MARGIN > columns[column]:
            return None
        # A sine of amplitude A gives |X|^2 = (N A / 2)^2 and energy N A^2 / 2: a pure tone's share is 1.
        if 2 * (rows[row] + columns[column]) < _MIN_SHARE * block.size * energy:
            return None
        return KEYPAD[row][column]


def read_keys(pcm: npt.NDArray[np.int16], rate_hz: int) -> str:
    """The keys pressed in ``pcm``, in order."""
    return DtmfReader(rate_hz).feed(pcm)
