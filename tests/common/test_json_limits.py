"""Free-form JSON values and raw JSON bodies: checked without recursion, whatever their depth."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from callbridge.common.json_guard import JsonBodyError, check_json_body, lone_surrogate_escape, nesting_depth
from callbridge.common.models.json_values import MAX_JSON_BYTES, MAX_JSON_DEPTH, JsonObject, json_depth


class Holder(BaseModel):
    value: JsonObject


def _chain(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ({}, 1), ([], 1), ({"a": [1, {"b": 2}]}, 3), ([[[]], []], 3), (_chain(10), 10)],
)
def test_depth_counts_levels_of_lists_and_objects(value: object, depth: int) -> None:
    assert json_depth(value) == depth


def test_depth_of_a_value_far_deeper_than_python_recursion_is_found_without_recursing() -> None:
    assert json_depth(_chain(100_000)) > MAX_JSON_DEPTH


def test_a_json_object_is_bounded_in_depth_size_numbers_and_unicode() -> None:
    assert Holder(value=_chain(MAX_JSON_DEPTH)).value == _chain(MAX_JSON_DEPTH)
    for value, reason in (
        (_chain(MAX_JSON_DEPTH + 1), f"at most {MAX_JSON_DEPTH} levels"),
        ({"big": "x" * MAX_JSON_BYTES}, f"at most {MAX_JSON_BYTES} bytes"),
        ({"x": float("nan")}, "NaN or Infinity"),
        ({"x": [float("-inf")]}, "NaN or Infinity"),
        ({"\ud800": 1}, "lone UTF-16 surrogate"),
    ):
        with pytest.raises(ValidationError, match=reason):
            Holder(value=value)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": "[[[[[["}]}', 3),  # brackets in strings do not count
        (b'{"a": "\\"[[[["}', 1),  # nor after an escaped quote
        (b'"unterminated [[[[', 0),
        (b"[" * 30_000 + b"]" * 30_000, 30_000),
    ],
)
def test_body_nesting_is_measured_outside_strings(body: bytes, depth: int) -> None:
    assert nesting_depth(body) == depth


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b'"\\ud800"', "\\ud800"),
        (b'"\\uDC00 alone"', "\\uDC00"),
        (b'"\\ud83d\\ude00"', None),  # a pair
        (b'"\\\\ud800"', None),  # an escaped backslash, then text
        (b'"\\\\\\ud800"', "\\ud800"),
        (b'"\\ud83d\\u0041"', "\\ud83d"),
        (b'"plain"', None),
    ],
)
def test_lone_surrogate_escapes_are_found_and_pairs_are_not(body: bytes, found: str | None) -> None:
    assert lone_surrogate_escape(body) == found


def test_a_body_check_names_what_is_wrong() -> None:
    check_json_body(b'{"a": [1, 2], "b": "NaN Infinity"}', 64)
    for body, reason in (
        (b"[" * 65 + b"]" * 65, "JSON nested 65 levels deep; at most 64 are allowed"),
        (b'{"t": NaN}', "NaN or Infinity"),
        (b"[-Infinity]", "NaN or Infinity"),
        (b'{"t": "\\udfff"}', "lone UTF-16 surrogate (\\udfff)"),
    ):
        with pytest.raises(JsonBodyError, match=re.escape(reason)):
            check_json_body(body, 64)
