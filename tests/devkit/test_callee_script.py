"""The callee script of a simulated account: behaviours as written on the command line, rules by number or
pattern, the first match winning, and clear errors for what cannot be read."""

from __future__ import annotations

import pytest

from callbridge.devkit.simulators.rest import (
    CalleeBehaviour,
    CalleeScript,
    ScriptError,
    parse_behaviour,
    parse_rule,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busy", CalleeBehaviour("busy")),
        ("no_answer", CalleeBehaviour("no_answer")),
        ("no_answer(ring_s=2)", CalleeBehaviour("no_answer", ring_s=2.0)),
        ("fails", CalleeBehaviour("fails")),
        ("answers_silent(hold_s=8)", CalleeBehaviour("answers_silent", hold_s=8.0)),
        ("answers_after(3.5)", CalleeBehaviour("answers_and_speaks", ring_s=3.5)),
        (
            " answers_and_speaks( wav=hello.wav , hold_s=4 ) ",
            CalleeBehaviour("answers_and_speaks", hold_s=4.0, wav="hello.wav"),
        ),
        (
            "answers_and_speaks(tone_hz=1000, speech_s=2)",
            CalleeBehaviour("answers_and_speaks", tone_hz=1000.0, speech_s=2.0),
        ),
        ("rate_limited", CalleeBehaviour("rate_limited")),
        ("rate_limited(2)", CalleeBehaviour("rate_limited", retry_after_s=2.0)),
    ],
)
def test_behaviours_read_as_written(text: str, expected: CalleeBehaviour) -> None:
    assert parse_behaviour(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("voicemail", "unknown behaviour 'voicemail'"),
        ("answers_after", "answers_after takes the ring time"),
        ("answers_after(1, 2)", "answers_after takes the ring time"),
        ("busy(3)", "key=value arguments only"),
        ("busy(colour=red)", "unknown argument 'colour'"),
        ("answers_after(-1)", "ring_s must be a number from 0"),
        ("answers_silent(hold_s=nan)", "hold_s must be a number from 0"),
        ("answers_silent(hold_s=99999)", "hold_s must be a number from 0"),
        ("rate_limited(1, retry_after_s=2)", "either one value or key=value"),
        ("busy)", "is not a behaviour"),
    ],
)
def test_a_behaviour_that_cannot_be_read_says_why(text: str, error: str) -> None:
    with pytest.raises(ScriptError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_behaviour(text)


def test_rules_match_a_number_or_a_pattern_and_the_first_one_wins() -> None:
    script = CalleeScript.parse(["+15550001234=busy", "*7=no_answer", "+1555*=answers_after(2)", "*=fails"])
    assert script.behaviour_for("+15550001234").kind == "busy"
    assert script.behaviour_for("+15550001237").kind == "no_answer"
    assert script.behaviour_for("+15550001230") == CalleeBehaviour("answers_and_speaks", ring_s=2.0)
    assert script.behaviour_for("+447700900000").kind == "fails"


def test_a_number_no_rule_matches_answers_and_speaks_unless_the_default_says_otherwise() -> None:
    assert CalleeScript().behaviour_for("+15550009999") == CalleeBehaviour("answers_and_speaks")
    script = CalleeScript.parse(["*1=busy"], default="answers_silent")
    assert script.behaviour_for("+15550009999").kind == "answers_silent"
    script.add("*9", "rate_limited(1)")
    assert script.behaviour_for("+15550009999") == CalleeBehaviour("rate_limited", retry_after_s=1.0)


@pytest.mark.parametrize("text", ["busy", "=busy", "+1555"])
def test_a_rule_without_a_number_or_a_behaviour_is_refused(text: str) -> None:
    with pytest.raises(ScriptError):
        parse_rule(text)


def test_a_behaviour_prints_as_it_is_written() -> None:
    assert str(parse_behaviour("answers_after(2)")) == "answers_and_speaks(ring_s=2)"
    assert str(parse_behaviour("busy")) == "busy"
    assert parse_behaviour(str(parse_behaviour("answers_silent(hold_s=3, ring_s=1)"))) == CalleeBehaviour(
        "answers_silent", ring_s=1.0, hold_s=3.0
    )


def test_keys_the_callee_presses_read_as_written_and_print_back() -> None:
    behaviour = parse_behaviour("answers_and_speaks(keys=1#, keys_at_s=2)")
    assert (behaviour.keys, behaviour.keys_at_s) == ("1#", 2.0)
    assert behaviour.key_presses() == [(2.0, "1"), (2.3, "#")]
    assert parse_behaviour(str(behaviour)) == behaviour
    assert parse_behaviour("answers_silent").key_presses() == []


@pytest.mark.parametrize("keys", ["12x", "", "A"])
def test_keys_other_than_0_9_star_and_hash_are_refused(keys: str) -> None:
    with pytest.raises(ScriptError, match="keys are 1 to 32 of 0-9"):
        parse_behaviour(f"answers_and_speaks(keys={keys})")
