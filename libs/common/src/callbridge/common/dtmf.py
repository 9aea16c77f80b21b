"""The key durations of ``playDtmfSounds`` (``toneDuration``, ``spaceDuration``), read one way wherever they
are checked: when a call definition is accepted (models/supported.py) and when the tool runs (media)."""

from __future__ import annotations

from typing import Final

from callbridge.common.durations import InvalidDurationError, parse_duration

MIN_KEY_S: Final = 0.04
"""ITU-T Q.24: receivers must recognise keys and gaps of 40 ms; shorter ones may be lost or merged."""
MAX_KEY_S: Final = 5.0
DURATION_PARAMETERS: Final = ("toneDuration", "spaceDuration")


def key_duration_s(name: str, value: object) -> float:
    """``value`` (a duration string such as ``"0.2s"``) in seconds; ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a duration string such as '0.2s'")
    try:
        seconds = parse_duration(value).total_seconds()
    except InvalidDurationError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if not MIN_KEY_S <= seconds <= MAX_KEY_S:
        raise ValueError(
            f"{name} {value!r} is out of range: from {MIN_KEY_S:g}s (ITU-T Q.24) to {MAX_KEY_S:g}s"
        )
    return seconds
