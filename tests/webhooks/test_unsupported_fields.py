"""Fields callbridge does not act on yet are refused with a 422 that says so, wherever a call definition
enters: ``POST /api/calls``, an agent call's overrides, and an agent's template (create and update)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.webhooks.helpers import Api

E164_TO = "+15550001111"
E164_FROM = "+15550002222"

# (call definition fields, what the 422 must say); each is refused in every place that takes it.
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"recordingEnabled": True}, "recordingEnabled"),
    ({"selectedTools": [{"toolName": "queryCorpus"}]}, "queryCorpus"),
    ({"selectedTools": [{"toolId": "8b2a6a6e-64f5-4b8c-9d53-1f1b2b2c3d4e"}]}, "toolId"),
    ({"selectedTools": [{"temporaryTool": {"modelToolName": "lookup"}}]}, "temporaryTool"),
    ({"selectedTools": [{"toolName": "hangUp", "nameOverride": "endCall"}]}, "nameOverride"),
]
# Accepted fields whose values callbridge cannot act on: 422 with what is wrong (not "not supported yet").
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"inactivityMessages": [{"duration": "-5s", "message": "Still there?"}]}, "may not be negative"),
    (
        {"selectedTools": [{"toolName": "hangUp", "parameterOverrides": {"strict": "no"}}]},
        "parameterOverrides.strict must be a bool",
    ),
    (
        {"selectedTools": [{"toolName": "leaveVoicemail", "parameterOverrides": {"result": 5}}]},
        "parameterOverrides.result must be a str",
    ),
]
ACCEPTED: list[dict[str, Any]] = [
    {"recordingEnabled": False},
    {"selectedTools": [{"toolName": "hangUp"}]},
    {"selectedTools": [{"toolName": "coldTransfer", "parameterOverrides": {"target": "+15557654321"}}]},
    {"selectedTools": [{"toolName": "hangUp", "descriptionOverride": "End the call politely"}]},
    {"selectedTools": [{"toolName": "playDtmfSounds"}]},
    {
        "selectedTools": [
            {
                "toolName": "playDtmfSounds",
                "parameterOverrides": {"toneDuration": "0.5s", "spaceDuration": "0.3s"},
            }
        ]
    },
    {"inactivityMessages": []},
    {"inactivityMessages": [{"duration": "30s", "message": "Still there?"}]},
    {
        "inactivityMessages": [
            {"duration": "30s", "message": "Are you still there?"},
            {"duration": "10s", "message": "Goodbye.", "endBehavior": "END_BEHAVIOR_HANG_UP_SOFT"},
            {"duration": "5s", "message": "", "endBehavior": "END_BEHAVIOR_HANG_UP_STRICT"},
        ]
    },
    {"selectedTools": [{"toolName": "leaveVoicemail"}]},
    {"selectedTools": [{"toolName": "hangUp", "parameterOverrides": {"strict": False}}]},
    {
        "selectedTools": [
            {"toolName": "leaveVoicemail", "parameterOverrides": {"strict": False, "result": "[Voicemail]"}}
        ]
    },
    {"firstSpeakerSettings": {"agent": {}}},
    {"firstSpeakerSettings": {"agent": {"uninterruptible": False}}},
    {"firstSpeakerSettings": {"user": {}}},
    {"firstSpeakerSettings": {"user": {"fallback": {"delay": "5s", "text": "Hello?"}}}},
    {"firstSpeakerSettings": {"user": {"fallback": {"delay": "5s", "prompt": "Ask who is there"}}}},
    {"firstSpeakerSettings": {"agent": {"text": "Hello!", "delay": "1s", "uninterruptible": True}}},
    {"firstSpeakerSettings": {"agent": {"prompt": "Greet the caller"}}},
]
AGENT_CALL_FIELDS = {"recordingEnabled", "firstSpeakerSettings", "medium"}


async def _agent(api: Api) -> str:
    response = await api.client.post("/api/agents", json={"name": "host", "callTemplate": {}})
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["agentId"]
    return agent_id


async def _entry_points(api: Api, fields: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) for every place that takes these call fields."""
    agent_id = await _agent(api)
    places = [
        ("POST", "/api/calls", fields),
        ("POST", "/api/agents", {"name": "t", "callTemplate": fields}),
        ("PATCH", f"/api/agents/{agent_id}", {"callTemplate": fields}),
    ]
    if set(fields) <= AGENT_CALL_FIELDS:
        places.append(("POST", f"/api/agents/{agent_id}/calls", fields))
    return places


@pytest.mark.parametrize(("fields", "names"), REFUSED, ids=lambda v: json.dumps(v)[:60])
async def test_fields_not_acted_on_are_refused_as_not_supported_yet(
    api: Api, fields: dict[str, Any], names: str
) -> None:
    for method, path, body in await _entry_points(api, fields):
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, f"{method} {path}: {response.text}"
        detail = json.dumps(response.json()["detail"])
        assert names in detail, detail
        assert "not supported yet" in detail, detail
    assert (await api.client.get("/api/calls")).json()["total"] == 0
    assert (await api.client.get("/api/agents")).json()["total"] == 1  # only the host of the agent calls


@pytest.mark.parametrize(("fields", "says"), INVALID, ids=lambda v: json.dumps(v)[:60])
async def test_values_callbridge_cannot_act_on_are_refused_saying_why(
    api: Api, fields: dict[str, Any], says: str
) -> None:
    for method, path, body in await _entry_points(api, fields):
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, f"{method} {path}: {response.text}"
        detail = json.dumps(response.json()["detail"])
        assert says in detail, detail
        assert "not supported yet" not in detail, detail
    assert (await api.client.get("/api/calls")).json()["total"] == 0


@pytest.mark.parametrize("fields", ACCEPTED, ids=lambda v: json.dumps(v)[:60])
async def test_the_supported_forms_of_those_fields_are_accepted(api: Api, fields: dict[str, Any]) -> None:
    for method, path, body in await _entry_points(api, fields):
        response = await api.client.request(method, path, json=body)
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"


async def test_context_schema_is_refused_as_not_supported_yet(api: Api) -> None:
    agent_id = await _agent(api)
    template = {"contextSchema": {"type": "object"}}
    for method, path in (("POST", "/api/agents"), ("PATCH", f"/api/agents/{agent_id}")):
        response = await api.client.request(method, path, json={"name": "t", "callTemplate": template})
        assert response.status_code == 422, response.text
        detail = json.dumps(response.json()["detail"])
        assert "contextSchema" in detail
        assert "not supported yet" in detail


@pytest.mark.parametrize(
    "numbers",
    [
        {"to": "5550001111", "from": E164_FROM},
        {"to": E164_TO, "from": "+0555"},
        {"to": "+1 555 000 1111", "from": E164_FROM},
        {"to": "sip:alice@example.com", "from": E164_FROM},
        {"to": "+1234567890123456", "from": E164_FROM},
    ],
)
async def test_outgoing_numbers_must_be_e164_before_anything_else(api: Api, numbers: dict[str, str]) -> None:
    response = await api.client.post("/api/calls", json={"medium": {"twilio": {"outgoing": numbers}}})
    assert response.status_code == 400, (
        response.text
    )  # a bad number is a bad request (issue 8), not a schema error
    detail = json.dumps(response.json()["detail"])
    assert "E.164" in detail, detail
    assert response.json()["detail"][0]["type"] == "e164_number"
    assert "telephony_configs" not in detail, detail  # refused as a number before the account is looked up


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"toneDuration": "half a second"}, "toneDuration: invalid duration 'half a second'"),
        ({"spaceDuration": "0.01s"}, "spaceDuration '0.01s' is out of range: from 0.04s (ITU-T Q.24) to 5s"),
        ({"toneDuration": 0.2}, "toneDuration must be a duration string such as '0.2s'"),
    ],
)
async def test_play_dtmf_sounds_durations_that_cannot_be_played_are_refused(
    api: Api, overrides: dict[str, Any], message: str
) -> None:
    fields = {"selectedTools": [{"toolName": "playDtmfSounds", "parameterOverrides": overrides}]}
    for method, path, body in await _entry_points(api, fields):
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, f"{method} {path}: {response.text}"
        detail = json.dumps(response.json()["detail"])
        assert f"selectedTools[0].parameterOverrides: {message}" in detail, detail
