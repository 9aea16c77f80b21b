"""Agent data messages parsed at the edge: typed, bounded, and anything else rejected or ignored."""

from __future__ import annotations

import orjson
import pytest

from callbridge.media.agents.messages import (
    MAX_PARAMETERS_DEPTH,
    MAX_TEXT_CHARS,
    PARAMETERS_DROPPED,
    ClientToolInvocation,
    InvalidAgentMessage,
    PlaybackClearBuffer,
    StateChanged,
    Transcript,
    parse_agent_message,
)


def test_the_messages_callbridge_acts_on_become_typed_models() -> None:
    assert parse_agent_message('{"type":"playback_clear_buffer"}') == PlaybackClearBuffer()
    assert parse_agent_message(
        b'{"type":"transcript","role":"agent","text":"Hi","final":true,"ordinal":3,"medium":"voice"}'
    ) == Transcript(role="agent", text="Hi", final=True, ordinal=3)
    assert parse_agent_message('{"type":"state","state":"speaking"}') == StateChanged(state="speaking")
    assert parse_agent_message(
        '{"type":"client_tool_invocation","toolName":"hangUp","invocationId":"i1","parameters":{"a":[1]}}'
    ) == ClientToolInvocation(tool_name="hangUp", invocation_id="i1", parameters={"a": [1]})


def test_types_callbridge_does_not_act_on_are_ignored() -> None:
    assert parse_agent_message('{"type":"debug","message":{"x":1}}') is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("[]", "JSON list"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ('{"type":5}', "type"),
        ('{"type":"transcript","role":"system"}', "invalid transcript: role"),
        ('{"type":"transcript","role":"agent","ordinal":"3"}', "ordinal"),
        ('{"type":"transcript","role":"agent","final":1}', "final"),
        ('{"type":"state","state":7}', "invalid state: state"),
        ('{"type":"client_tool_invocation","toolName":"hangUp","invocationId":5}', "invocationId"),
        ('{"type":"client_tool_invocation","toolName":"hangUp","parameters":[]}', "parameters"),
        ('{"type":"client_tool_invocation","parameters":{}}', "toolName"),
        (
            '{"type":"client_tool_invocation","toolName":"x","parameters":'
            + '{"a":' * 5000
            + "1"
            + "}" * 5001,
            "JSON",
        ),
    ],
)
def test_invalid_messages_are_rejected_with_what_is_wrong(raw: str | bytes, match: str) -> None:
    with pytest.raises(InvalidAgentMessage, match=match):
        parse_agent_message(raw)


def test_transcript_text_is_cut_at_the_limit() -> None:
    message = parse_agent_message(
        orjson.dumps({"type": "transcript", "role": "user", "delta": "x" * 100_000})
    )
    assert isinstance(message, Transcript)
    assert message.delta == "x" * MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("parameters", "why"),
    [
        ({"blob": "x" * 10_000}, "bytes exceed"),
        ({"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}, "deeper than"),
    ],
)
def test_tool_parameters_too_large_or_deep_are_dropped_with_a_note(parameters: object, why: str) -> None:
    message = parse_agent_message(
        orjson.dumps({"type": "client_tool_invocation", "toolName": "lookup", "parameters": parameters})
    )
    assert isinstance(message, ClientToolInvocation)
    assert list(message.parameters) == [PARAMETERS_DROPPED]
    assert why in message.parameters[PARAMETERS_DROPPED]


def test_tool_parameters_at_the_depth_limit_are_kept() -> None:
    nested: object = 1
    for _ in range(MAX_PARAMETERS_DEPTH - 1):
        nested = [nested]
    message = parse_agent_message(
        orjson.dumps({"type": "client_tool_invocation", "toolName": "x", "parameters": {"a": nested}})
    )
    assert isinstance(message, ClientToolInvocation)
    assert message.parameters == {"a": nested}
