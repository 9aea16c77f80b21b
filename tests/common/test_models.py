from uuid import uuid4

import pytest
from pydantic import ValidationError

from callbridge.common.events import CallEnded, DtmfReceived, parse_event
from callbridge.common.models.backend import AgentBackend
from callbridge.common.models.call import CallCreate, EndReason
from callbridge.common.models.medium import CallMedium, DtmfHandling, Urgency


def test_call_definition_reads_ultravox_fields_in_camel_case() -> None:
    body = {
        "systemPrompt": "You are helpful",
        "firstSpeakerSettings": {"agent": {}},
        "medium": {"twilio": {"dtmfHandling": {"userTextMessage": {"text": "pressed {digits}"}}}},
        "joinTimeout": "15s",
        "maxDuration": "900s",
        "timeExceededMessage": "Time is up",
        "metadata": {"crm": "42"},
        "initialState": {"step": 1},
        "selectedTools": [{"toolName": "hangUp"}],
        "recordingEnabled": False,
        "vadSettings": {"turnEndpointDelay": "0.384s", "frameActivationThreshold": 0.2},
        "agentBackend": {"websocket": {"url": "wss://agent.example.com/ws", "inputSampleRate": 24000}},
    }
    call = CallCreate.model_validate(body)
    assert call.join_timeout is not None
    assert call.join_timeout.total_seconds() == 15
    assert call.agent_backend is not None
    assert call.agent_backend.websocket is not None
    assert call.agent_backend.websocket.effective_output_sample_rate == 24000
    assert call.model_dump(exclude_none=True)["vadSettings"]["turnEndpointDelay"] == "0.384s"


@pytest.mark.parametrize(
    "body",
    [
        {"unknownField": 1},
        {"joinTimeout": "30"},
        {"joinTimeout": "0s"},
        {"metadata": {"ultravox.x": "1"}},
        {"medium": {}},
        {"agentBackend": {"echo": {}, "demo": {}}},
        {"agentBackend": {"websocket": {"url": "http://not-a-websocket"}}},
        {"agentBackend": {"echo": {"sampleRate": 11025}}},
        {"firstSpeakerSettings": {"agent": {}, "user": {}}},
        {"selectedTools": [{"toolName": "a", "toolId": "b"}]},
    ],
)
def test_call_definition_refuses_invalid_bodies(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CallCreate.model_validate(body)


def test_dtmf_handling_defaults_to_immediate_digits_and_can_ignore() -> None:
    assert DtmfHandling().render("5") == ("5", Urgency.IMMEDIATE)
    custom = DtmfHandling.model_validate(
        {"userTextMessage": {"text": "Key {digits}", "urgency": "URGENCY_SOON"}}
    )
    assert custom.render("12") == ("Key 12", Urgency.SOON)
    assert DtmfHandling(ignore=True).render("1") is None
    assert CallMedium.model_validate({"twilio": {}}).dtmf_handling.render("#") == ("#", Urgency.IMMEDIATE)


def test_backend_kind() -> None:
    assert AgentBackend.model_validate({"echo": {}}).kind == "echo"


def test_events_are_frozen_and_parse_from_their_subject() -> None:
    event = CallEnded(call_id=uuid4(), end_reason=EndReason.HANGUP, duration_ms=1200)
    with pytest.raises(ValidationError):
        event.duration_ms = 5  # type: ignore[misc]  # frozen: the assignment itself is what is tested
    parsed = parse_event(event.subject, event.to_json())
    assert parsed == event
    assert event.subject == f"callbridge.calls.{event.call_id}.ended"
    assert '"endReason":"hangup"' in event.to_json().decode()
    dtmf = DtmfReceived(call_id=uuid4(), digit="#")
    assert parse_event(dtmf.subject, dtmf.to_json()) == dtmf
