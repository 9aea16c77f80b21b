"""The simulated callee of an outbound call: what the phone at the dialed number does, scripted by number.

A behaviour is written as ``name`` or ``name(arguments)``:

- ``answers_and_speaks``: rings ``ring_s``, answers, says something (a tone, or ``wav=<file>``) and stays on
  the line until ``hold_s`` after answering, then hangs up;
- ``answers_after(<ring_s>)``: the same after a ring of ``ring_s`` seconds;
- ``answers_silent``: answers and says nothing for ``hold_s``;
- ``phone_menu``: answers as an IVR: says its prompt (the tone), listens for keys pressed in band in what it
  hears, and answers each with its option's reply, a tone of its own (1: 1100 Hz, 2: 1300 Hz, any other
  key: 350 Hz; simulators/phone_menu.py); it hangs up ``hold_s`` after answering;
- ``busy``; ``no_answer`` (rings until the dial's ring timeout, or ``ring_s`` if given); ``fails`` (the
  call cannot be placed);
- ``rate_limited`` or ``rate_limited(<seconds>)``: the provider refuses the dial itself with a 429 (and a
  ``Retry-After`` of that many seconds).

An answering callee presses ``keys`` (``0-9*#``) out of band, the first ``keys_at_s`` after its stream starts
(0.3 s apart): the human accepting (1) or declining (2) a warm transfer.

Arguments are ``key=value`` (``ring_s``, ``hold_s``, ``speech_s``, ``tone_hz``, ``wav``, ``retry_after_s``,
``keys``, ``keys_at_s``), or the one positional value above. A rule is ``<number or pattern>=<behaviour>``:
an E.164 number, or a shell-style pattern (``*7`` for every number ending in 7, ``*`` for all); the first
rule that matches decides, and a number no rule matches gets ``answers_and_speaks``.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

BehaviourKind = Literal[
    "answers_and_speaks", "answers_silent", "phone_menu", "busy", "no_answer", "fails", "rate_limited"
]
KINDS: tuple[BehaviourKind, ...] = get_args(BehaviourKind)
_KINDS: dict[str, BehaviourKind] = {kind: kind for kind in KINDS}
ANSWERS_AFTER = "answers_after"

DEFAULT_RING_S = 0.5
DEFAULT_HOLD_S = 5.0
DEFAULT_SPEECH_S = 1.0
DEFAULT_TONE_HZ = 440.0
MAX_SECONDS = 3600.0
MAX_RULES = 1000

_CALL = re.compile(r"^\s*(?P<name>[a-z_]+)\s*(?:\((?P<args>[^()]*)\))?\s*$")
_NUMBER_FIELDS = ("ring_s", "hold_s", "speech_s", "tone_hz", "retry_after_s", "keys_at_s")
_KEYS = re.compile(r"^[0-9*#]{1,32}$")
DEFAULT_KEYS_AT_S = 1.0
KEYS_SPACING_S = 0.3


class ScriptError(ValueError):
    """A behaviour or rule that cannot be read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class CalleeBehaviour:
    """What one callee does when called."""

    kind: BehaviourKind
    ring_s: float | None = None
    """How long it rings before answering (``DEFAULT_RING_S``), being busy or failing (no ring); for
    ``no_answer``, how long until it stops ringing (the dial's ring timeout when None)."""
    hold_s: float = DEFAULT_HOLD_S
    """From answering to hanging up, speech included."""
    speech_s: float = DEFAULT_SPEECH_S
    """How long the tone lasts (``answers_and_speaks`` without ``wav``)."""
    tone_hz: float = DEFAULT_TONE_HZ
    wav: str | None = None
    """A mono WAV file the callee says instead of the tone (resampled to the stream's rate)."""
    retry_after_s: float | None = None
    """``rate_limited``: the ``Retry-After`` the 429 carries; None: none."""
    keys: str = ""
    """Keys the callee presses once answered (out of band, as the provider's DTMF events)."""
    keys_at_s: float = DEFAULT_KEYS_AT_S
    """When the first key is pressed, from the stream's start."""

    def key_presses(self) -> list[tuple[float, str]]:
        """(seconds from the stream's start, key) of each key pressed."""
        return [(self.keys_at_s + index * KEYS_SPACING_S, key) for index, key in enumerate(self.keys)]

    @property
    def answers(self) -> bool:
        return self.kind in ("answers_and_speaks", "answers_silent", "phone_menu")

    @property
    def speaks(self) -> bool:
        return self.kind in ("answers_and_speaks", "phone_menu")

    def __str__(self) -> str:
        defaults = CalleeBehaviour(self.kind)
        arguments = [
            f"{name}={getattr(self, name):g}"
            if isinstance(getattr(self, name), float)
            else f"{name}={getattr(self, name)}"
            for name in (
                "ring_s",
                "hold_s",
                "speech_s",
                "tone_hz",
                "wav",
                "retry_after_s",
                "keys",
                "keys_at_s",
            )
            if getattr(self, name) != getattr(defaults, name)
        ]
        return self.kind + (f"({', '.join(arguments)})" if arguments else "")


def parse_behaviour(text: str) -> CalleeBehaviour:
    """``answers_after(3)``, ``busy``, ``answers_and_speaks(wav=hello.wav, hold_s=8)`` …"""
    match = _CALL.match(text)
    if match is None:
        raise ScriptError(f"{text[:80]!r} is not a behaviour such as busy or answers_after(3)")
    name, argument_text = match["name"], match["args"]
    positional, keywords = _arguments(argument_text or "", text)
    if name == ANSWERS_AFTER:
        if len(positional) != 1:
            raise ScriptError(
                f"{text[:80]!r}: answers_after takes the ring time in seconds, as answers_after(3)"
            )
        keywords["ring_s"] = positional.pop()
        name = "answers_and_speaks"
    elif name == "rate_limited" and positional:
        keywords["retry_after_s"] = positional.pop()
    if positional:
        raise ScriptError(f"{text[:80]!r}: {name} takes key=value arguments only")
    kind = _KINDS.get(name)
    if kind is None:
        known = ", ".join((*KINDS, ANSWERS_AFTER))
        raise ScriptError(f"unknown behaviour {name!r}; known: {known}")
    numbers: dict[str, float] = {}
    wav: str | None = None
    keys = ""
    for key, value in keywords.items():
        if key == "wav":
            wav = value
        elif key == "keys":
            if not _KEYS.fullmatch(value):
                raise ScriptError(f"{text[:80]!r}: keys are 1 to 32 of 0-9, * and #")
            keys = value
        elif key in _NUMBER_FIELDS:
            numbers[key] = _seconds(key, value, text)
        else:
            raise ScriptError(f"{text[:80]!r}: unknown argument {key!r}")
    return CalleeBehaviour(
        kind,
        ring_s=numbers.get("ring_s"),
        hold_s=numbers.get("hold_s", DEFAULT_HOLD_S),
        speech_s=numbers.get("speech_s", DEFAULT_SPEECH_S),
        tone_hz=numbers.get("tone_hz", DEFAULT_TONE_HZ),
        wav=wav,
        retry_after_s=numbers.get("retry_after_s"),
        keys=keys,
        keys_at_s=numbers.get("keys_at_s", DEFAULT_KEYS_AT_S),
    )


def _arguments(text: str, whole: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, separator, value = item.partition("=")
        if separator:
            keywords[key.strip()] = value.strip()
        else:
            positional.append(item)
    if positional and keywords:
        raise ScriptError(f"{whole[:80]!r}: give either one value or key=value arguments")
    return positional, keywords


def _seconds(key: str, value: str, whole: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not 0 <= number <= MAX_SECONDS:
        raise ScriptError(f"{whole[:80]!r}: {key} must be a number from 0 to {MAX_SECONDS:g}")
    return number


@dataclass(frozen=True, slots=True)
class CalleeRule:
    pattern: str
    """An E.164 number, or a shell-style pattern over it (``*7``, ``+1555*``, ``*``)."""
    behaviour: CalleeBehaviour

    def matches(self, number: str) -> bool:
        return fnmatch.fnmatchcase(number, self.pattern)


def parse_rule(text: str) -> CalleeRule:
    """``<number or pattern>=<behaviour>``, as ``callbridge sim account --script`` takes it."""
    pattern, separator, behaviour = text.partition("=")
    if not separator or not pattern.strip():
        raise ScriptError(f"{text[:80]!r} is not a rule such as '+15550001234=busy' or '*7=no_answer'")
    return CalleeRule(pattern.strip(), parse_behaviour(behaviour))


@dataclass
class CalleeScript:
    """The rule table of one simulated account: which behaviour each dialed number gets."""

    rules: list[CalleeRule] = field(default_factory=list)
    default: CalleeBehaviour = field(default_factory=lambda: CalleeBehaviour("answers_and_speaks"))

    @classmethod
    def parse(cls, rules: Iterable[str], default: str | None = None) -> CalleeScript:
        script = cls([parse_rule(rule) for rule in rules])
        if len(script.rules) > MAX_RULES:
            raise ScriptError(f"at most {MAX_RULES} rules")
        if default is not None:
            script.default = parse_behaviour(default)
        return script

    def add(self, pattern: str, behaviour: CalleeBehaviour | str) -> None:
        """A rule after the others (the earlier ones win)."""
        chosen = parse_behaviour(behaviour) if isinstance(behaviour, str) else behaviour
        self.rules.append(CalleeRule(pattern, chosen))

    def behaviour_for(self, number: str) -> CalleeBehaviour:
        return next((rule.behaviour for rule in self.rules if rule.matches(number)), self.default)
