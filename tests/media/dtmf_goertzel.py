"""An independent DTMF reader for tests: the classic Goertzel recurrence, block by block, in plain Python.

It shares no code with media's detector (audio/dtmf_tones.py), so a test that reads keys with it checks what
the callee would hear, not the detector against itself. Simple on purpose: ~25 ms blocks, the strongest
row and column tone each 6 dB above the rest of its group and together most of the block's energy; a key
is a run of at least two such blocks.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def _goertzel_power(block: list[float], frequency_hz: float, rate_hz: int) -> float:
    coefficient = 2 * math.cos(2 * math.pi * frequency_hz / rate_hz)
    s1 = s2 = 0.0
    for sample in block:
        s1, s2 = sample + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def _block_key(block: list[float], rate_hz: int) -> str | None:
    energy = sum(sample * sample for sample in block)
    if energy < len(block) * 300.0**2:  # quieter than about -40 dBFS
        return None
    rows = [_goertzel_power(block, f, rate_hz) for f in ROWS_HZ]
    columns = [_goertzel_power(block, f, rate_hz) for f in COLUMNS_HZ]
    row = max(range(4), key=rows.__getitem__)
    column = max(range(4), key=columns.__getitem__)
    if any(4 * p > rows[row] for i, p in enumerate(rows) if i != row):
        return None
    if any(4 * p > columns[column] for i, p in enumerate(columns) if i != column):
        return None
    # A sine of amplitude A gives power (N A / 2)^2 and energy N A^2 / 2.
    if 2 * (rows[row] + columns[column]) < 0.5 * len(block) * energy:
        return None
    return KEYPAD[row][column]


def read_keys(pcm: npt.NDArray[np.int16], rate_hz: int) -> str:
    """The keys pressed in ``pcm``, in order."""
    size = round(0.025 * rate_hz)
    samples = pcm.astype(np.float64).tolist()
    keys: list[str] = []
    current: str | None = None
    run = 0
    for start in range(0, len(samples) - size + 1, size):
        key = _block_key(samples[start : start + size], rate_hz)
        if key == current:
            run += 1
        else:
            current, run = key, 1
        if key is not None and run == 2:
            keys.append(key)
    return "".join(keys)
