"""Protobuf-style duration strings (``"30s"``, ``"0.384s"``) as Ultravox uses them on the wire."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

# The exact pattern of Ultravox's OpenAPI schema: at most 12 integer digits, at most 9 fractional digits.
DURATION_PATTERN = re.compile(r"^-?(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,9})?s$")


class InvalidDurationError(ValueError):
    """A string that is not a protobuf duration such as ``"30s"`` or ``"0.384s"``."""


def parse_duration(value: str) -> timedelta:
    """Parse ``"30s"`` / ``"0.384s"`` into a timedelta, exactly as the pattern allows."""
    if not DURATION_PATTERN.match(value):
        raise InvalidDurationError(
            f"invalid duration {value!r}: expected seconds with an 's' suffix, such as '30s' or '0.384s'"
        )
    return timedelta(seconds=float(Decimal(value[:-1])))


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way Ultravox returns durations: shortest decimal seconds, ``s`` suffix."""
    seconds = Decimal(value.days * 86400 + value.seconds) + Decimal(value.microseconds) / Decimal(1_000_000)
    text = format(seconds.normalize(), "f")
    return f"{text}s"


def _validate(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise InvalidDurationError(f"invalid duration {value!r}: expected a string such as '30s'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN.pattern, "examples": ["30s", "0.384s"]}),
]
"""A pydantic field type: a timedelta that reads and writes protobuf duration strings."""


def non_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise InvalidDurationError("duration must not be negative")
    return value
