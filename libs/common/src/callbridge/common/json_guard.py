"""Checks on raw JSON bytes before anything parses them.

Python's ``json`` recurses once per nesting level, so a small body nested 30,000 deep raises RecursionError
(or worse, in code that does not expect it) wherever it is parsed. These checks read the bytes without
parsing or recursion, in time linear in the body, so that an edge can refuse such a body with a clear error
first. They also refuse what ``json`` accepts but nothing can store: lone UTF-16 surrogate escapes
(``"\\ud800"``) and the non-standard ``NaN``/``Infinity`` tokens.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
"""A JSON string, escapes included; an unterminated one runs to the end (the parser will refuse it)."""
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
"""Openers to +1 and closers to -1 (0xFF read as a signed byte)."""
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_NON_FINITE = re.compile(rb"(?<![A-Za-z0-9_])-?(?:NaN|Infinity)(?![A-Za-z0-9_])")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LOW_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_BACKSLASH = 0x5C


class JsonBodyError(ValueError):
    """A body no JSON parser should be handed; the message says why."""


def check_json_body(body: bytes, max_depth: int) -> None:
    """Raise JsonBodyError if ``body`` nests deeper than ``max_depth``, escapes a lone surrogate, or uses
    NaN/Infinity. Bodies that are not JSON at all pass: the parser refuses them with its own message."""
    structure = _STRING.sub(b'""', body)
    depth = _depth(structure)
    if depth > max_depth:
        raise JsonBodyError(f"JSON nested {depth} levels deep; at most {max_depth} are allowed")
    if _NON_FINITE.search(structure):
        raise JsonBodyError("JSON does not allow NaN or Infinity")
    surrogate = lone_surrogate_escape(body)
    if surrogate is not None:
        raise JsonBodyError(
            f"JSON string escapes a lone UTF-16 surrogate ({surrogate}), which is not valid Unicode"
        )


def nesting_depth(body: bytes) -> int:
    """The deepest nesting of ``[]``/``{}`` in a JSON body, brackets inside strings not counted."""
    return _depth(_STRING.sub(b'""', body))


def _depth(structure: bytes) -> int:
    brackets = structure.translate(None, _NOT_BRACKETS)
    return max(accumulate(array("b", brackets.translate(_STEPS))), default=0)


def lone_surrogate_escape(body: bytes) -> str | None:
    r"""The first ``\uD800``-``\uDFFF`` escape that is not half of a high-low pair, or None."""
    if b"\\u" not in body:
        return None
    paired_low = -1
    for match in _SURROGATE_ESCAPE.finditer(body):
        start = match.start()
        if start == paired_low or not _is_escape(body, start):
            continue
        is_high = body[start + 3] in b"89abAB"
        if is_high and _LOW_SURROGATE_ESCAPE.match(body, start + 6):
            paired_low = start + 6
            continue
        return match.group().decode()
    return None


def _is_escape(body: bytes, backslash: int) -> bool:
    """Whether the backslash at ``backslash`` starts an escape: an even number of backslashes before it."""
    run = 0
    while backslash - run > 0 and body[backslash - run - 1] == _BACKSLASH:
        run += 1
    return run % 2 == 0
