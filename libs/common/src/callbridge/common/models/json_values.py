"""Free-form JSON in the API (``initialState``, ``initialMessages``, ``templateContext``, ``metadata``, …),
bounded so that whatever is accepted can be stored and read back.

pydantic reads JSON back only to a nesting depth of about 200, serialises Python values only to about 250,
and cannot write a lone UTF-16 surrogate or NaN as JSON at all; a field that goes past any of these is
stored once and then breaks every listing that reads it. So each field is checked where it is parsed: at
most ``MAX_JSON_DEPTH`` levels (well below what pydantic reads back, leaving room for the model around the
field) and ``MAX_JSON_BYTES`` once serialised, finite numbers, and valid Unicode.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_JSON_DEPTH = 32
"""Levels of nesting of one field's value: ``{"a": {"b": 1}}`` is 2 deep, ``[{"a": 1}]`` too."""
MAX_JSON_BYTES = 256 * 1024
"""One field's value serialised as compact UTF-8 JSON."""


def json_depth(value: object) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar is 0), without recursion, so any input is safe.
    Counting stops once past MAX_JSON_DEPTH: that is deep enough to refuse."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                return deepest
        pending.extend((child, depth) for child in children)
    return deepest


def _small_flat_ascii(value: Any) -> bool:
    """A dict of a few ASCII strings, such as most metadata and template contexts: one level deep, no
    surrogate or NaN possible, and well under the size limit (an ASCII character is at most 6 bytes as
    JSON). Checked without serialising it, which costs ~10 µs per field (a batch has 200,000)."""
    if not isinstance(value, dict) or len(value) > 64:
        return False
    size = 2
    for key, item in value.items():
        if not (isinstance(key, str) and isinstance(item, str) and key.isascii() and item.isascii()):
            return False
        size += len(key) + len(item) + 6
    return size * 6 <= MAX_JSON_BYTES


def check_json_value(value: Any) -> Any:
    """Refuse (ValueError) what cannot be stored as JSON and read back; return ``value`` unchanged."""
    if _small_flat_ascii(value):
        return value
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"is nested too deeply: at most {MAX_JSON_DEPTH} levels are allowed")
    try:
        # allow_nan=False refuses NaN and ±Infinity; encoding refuses lone surrogates ("\ud800").
        size = len(json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode())
    except UnicodeEncodeError:
        raise ValueError(
            "contains a lone UTF-16 surrogate (such as \\ud800), which is not valid Unicode"
        ) from None
    except ValueError:
        raise ValueError("contains NaN or Infinity, which JSON cannot represent") from None
    except TypeError as exc:
        raise ValueError(f"is not JSON: {exc}") from None
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_JSON_BYTES} bytes are allowed")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_value)]
"""A free-form JSON object, bounded in depth and size."""
JsonObjectList = Annotated[list[dict[str, Any]], AfterValidator(check_json_value)]
"""A list of free-form JSON objects (``initialMessages``), bounded as a whole."""
StringMap = Annotated[dict[str, str], AfterValidator(check_json_value)]
"""A map of strings (``metadata``), bounded in size."""

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "JsonObject",
    "JsonObjectList",
    "StringMap",
    "check_json_value",
    "json_depth",
]
