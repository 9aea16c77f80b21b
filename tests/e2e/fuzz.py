"""A seeded mutator of provider media-stream messages, for fuzzing a live call.

From a provider's own messages (every kind it sends), it makes what a broken or hostile provider might send:
random bytes, cut JSON, every field of every message given every wrong type, fields missing, unknown
events, payloads up to the largest message media accepts, text that is not UTF-8, binary frames, nesting
deeper than a parser follows. The same seed gives the same messages. It never makes a well-formed ``stop``
(which ends a call by right): any message that would parse as one has its event renamed.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    2**63,  # beyond int64: orjson writes it (u64), many readers overflow
    1.5,
    "",
    "é",
    "\u0000",
    "x" * 300,
    [],
    [1, "a"],
    {},
    {"a": {"b": None}},
)
UNKNOWN_EVENTS = ("nope", "MEDIA", "media ", "clear", "playAudio", "checkpoint", "connected2", "")


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    text: bool
    """Sent as a text frame (its bytes unchecked, so possibly not UTF-8), else as a binary frame."""


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path into a JSON value: each object key and list index, at any depth."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from paths(child, (*prefix, index))


def replaced(
    message: dict[str, Any], path: tuple[str | int, ...], value: Any, *, delete: bool = False
) -> Any:
    """A deep copy of ``message`` with ``path`` set to ``value`` (or deleted)."""
    copy = orjson.loads(orjson.dumps(message))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


def is_stop(data: bytes) -> bool:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("event") == "stop"


def never_stop(data: bytes) -> bytes:
    """``data``, with a well-formed stop's event renamed so that it is not one."""
    if not is_stop(data):
        return data
    parsed = orjson.loads(data)
    parsed["event"] = "stop?"
    return orjson.dumps(parsed)


class ProviderFrameFuzzer:
    """Mutated messages of one provider, from its message templates; deterministic per seed."""

    def __init__(self, templates: list[dict[str, Any]], *, seed: int, max_message_bytes: int) -> None:
        self._templates = templates
        self._rng = random.Random(seed)
        self._max_bytes = max_message_bytes

    def frames(self, count: int) -> Iterator[Frame]:
        """``count`` frames: first every template with every field given every wrong value and removed
        (as many as fit), then random mutations."""
        made = 0
        for frame in self._systematic():
            if made == count:
                return
            yield self._safe(frame)
            made += 1
        while made < count:
            yield self._safe(self._random())
            made += 1

    def _safe(self, frame: Frame) -> Frame:
        return Frame(never_stop(frame.data), frame.text)

    def _systematic(self) -> Iterator[Frame]:
        for template in self._templates:
            for path in paths(template):
                for value in WRONG_VALUES:
                    yield Frame(orjson.dumps(replaced(template, path, value)), True)
                yield Frame(orjson.dumps(replaced(template, path, None, delete=True)), True)

    def _random(self) -> Frame:
        rng = self._rng
        template = rng.choice(self._templates)
        text = orjson.dumps(template)
        kind = rng.randrange(12)
        if kind == 0:  # random bytes, as text (rarely UTF-8) or binary
            return Frame(rng.randbytes(rng.randrange(0, 300)), rng.random() < 0.5)
        if kind == 1:  # cut JSON
            return Frame(text[: rng.randrange(0, len(text))], True)
        if kind == 2:  # a wrong value somewhere
            path = rng.choice(list(paths(template)))
            return Frame(orjson.dumps(replaced(template, path, rng.choice(WRONG_VALUES))), True)
        if kind == 3:  # a field missing
            path = rng.choice(list(paths(template)))
            return Frame(orjson.dumps(replaced(template, path, None, delete=True)), True)
        if kind == 4:  # an unknown event
            return Frame(orjson.dumps({**template, "event": rng.choice(UNKNOWN_EVENTS)}), True)
        if kind == 5:  # a huge payload, up to the largest message media accepts
            return Frame(self._huge(template), True)
        if kind == 6:  # not UTF-8: a few bytes of valid JSON replaced
            data = bytearray(text)
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.choice((0xFF, 0xC3, 0x80, 0xED, 0xF8))
            return Frame(bytes(data), True)
        if kind == 7:  # a valid message in a binary frame
            return Frame(text, False)
        if kind == 8:  # nesting deeper than any parser follows, or just deep
            depth = rng.choice((50, 1000, 5000))
            return Frame(b'{"event":"media","media":' + b"[" * depth + b"]" * depth + b"}", True)
        if kind == 9:  # numbers JSON parsers disagree on
            return Frame(self._odd_numbers(), True)
        if kind == 10:  # a payload that is not quite base64
            return Frame(self._bad_payload(template), True)
        return Frame(text, True)  # the template itself, valid: state moves on as with a real provider

    def _huge(self, template: dict[str, Any]) -> bytes:
        rng = self._rng
        size = rng.randrange(1000, self._max_bytes - 2048)
        payload = base64.b64encode(rng.randbytes(size * 3 // 4)).decode()[:size]
        if "media" in template and isinstance(template["media"], dict):
            message = {**template, "media": {**template["media"], "payload": payload}}
        else:
            message = {**template, "junk": payload}
        data = orjson.dumps(message)
        return data[: self._max_bytes]

    def _odd_numbers(self) -> bytes:
        number = self._rng.choice((b"1e400", b"-0", b"NaN", b"Infinity", b"1" * 400, b"0x10", b"1.0e-400"))
        return b'{"event":"media","sequence_number":' + number + b',"media":{"payload":""}}'

    def _bad_payload(self, template: dict[str, Any]) -> bytes:
        media = template.get("media")
        if not isinstance(media, dict):
            return orjson.dumps(template)
        payload = str(media.get("payload", "AAAA"))
        spoilt = self._rng.choice(
            (
                payload + "=",
                payload[:-1],
                "é" + payload,
                payload.replace("A", "-"),
                payload + "\n",
                " " + payload,
            )
        )
        return orjson.dumps({**template, "media": {**media, "payload": spoilt}})
