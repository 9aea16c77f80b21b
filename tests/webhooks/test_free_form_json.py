"""Free-form JSON fields (``initialState``, ``initialMessages``, ``templateContext``, ``metadata``, a tool's
``parameterOverrides``, ``requestContextMapping``) are bounded in depth and size, and whatever the API accepts
can be read back and listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbridge.common.models.json_values import MAX_JSON_BYTES, MAX_JSON_DEPTH
from tests.webhooks.helpers import Api

Body = Callable[[Any], dict[str, Any]]


def nested(levels: int) -> dict[str, Any]:
    """A JSON object ``levels`` deep: ``{"next": {"next": … {"leaf": true}}}``."""
    value: dict[str, Any] = {"leaf": True}
    for _ in range(levels - 1):
        value = {"next": value}
    return value


HANG_UP = {"toolName": "hangUp"}

# (path, field name as the error names it, body around a JSON object). Paths with {agent} are filled in.
OBJECT_FIELDS: list[tuple[str, str, Body]] = [
    ("/api/calls", "initialState", lambda v: {"initialState": v}),
    ("/api/calls", "parameterOverrides", lambda v: {"selectedTools": [{**HANG_UP, "parameterOverrides": v}]}),
    ("/api/agents/{agent}/calls", "templateContext", lambda v: {"templateContext": v}),
    ("/api/agents", "initialState", lambda v: {"name": "a", "callTemplate": {"initialState": v}}),
]
LIST_FIELDS: list[tuple[str, str, Body]] = [
    ("/api/calls", "initialMessages", lambda v: {"initialMessages": v}),
    ("/api/agents/{agent}/calls", "initialMessages", lambda v: {"initialMessages": v}),
    ("/api/agents", "initialMessages", lambda v: {"name": "a", "callTemplate": {"initialMessages": v}}),
]
STRING_MAP_FIELDS: list[tuple[str, str, Body]] = [
    ("/api/calls", "metadata", lambda v: {"metadata": v}),
    ("/api/agents/{agent}/calls", "metadata", lambda v: {"metadata": v}),
    (
        "/api/telephony_configs/twilio",
        "requestContextMapping",
        lambda v: {"accountSid": "AC" + "a" * 32, "authToken": "token-123456", "requestContextMapping": v},
    ),
]


async def _post(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    if "{agent}" in path:
        agent = await api.client.post("/api/agents", json={"name": "host"})
        path = path.replace("{agent}", agent.json()["agentId"])
    # Encoded here, not by httpx: ensure_ascii keeps lone surrogates as \\ud800 escapes, as an attacker
    # would send them.
    return await api.client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def _refused_for(response: httpx.Response, field: str) -> str:
    assert response.status_code == 422, response.text
    detail = json.dumps(response.json()["detail"])
    assert field in detail, detail
    return detail


@pytest.mark.parametrize(("path", "field", "body"), OBJECT_FIELDS)
async def test_objects_nested_deeper_than_the_limit_are_refused(
    api: Api, path: str, field: str, body: Body
) -> None:
    accepted = await _post(api, path, body(nested(MAX_JSON_DEPTH)))
    assert accepted.status_code == 201, accepted.text
    detail = _refused_for(await _post(api, path, body(nested(MAX_JSON_DEPTH + 1))), field)
    assert f"at most {MAX_JSON_DEPTH}" in detail


@pytest.mark.parametrize(("path", "field", "body"), LIST_FIELDS)
async def test_lists_nested_deeper_than_the_limit_are_refused(
    api: Api, path: str, field: str, body: Body
) -> None:
    accepted = await _post(api, path, body([nested(MAX_JSON_DEPTH - 1)]))
    assert accepted.status_code == 201, accepted.text
    detail = _refused_for(await _post(api, path, body([nested(MAX_JSON_DEPTH)])), field)
    assert f"at most {MAX_JSON_DEPTH}" in detail


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [*OBJECT_FIELDS, *[(p, f, lambda v, b=b: b([v])) for p, f, b in LIST_FIELDS], *STRING_MAP_FIELDS],
)
async def test_free_form_fields_larger_than_the_limit_are_refused(
    api: Api, path: str, field: str, body: Body
) -> None:
    detail = _refused_for(await _post(api, path, body({"big": "x" * MAX_JSON_BYTES})), field)
    assert f"{MAX_JSON_BYTES} bytes" in detail


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [*OBJECT_FIELDS, *[(p, f, lambda v, b=b: b([v])) for p, f, b in LIST_FIELDS], *STRING_MAP_FIELDS],
)
async def test_free_form_fields_that_are_not_valid_unicode_are_refused(
    api: Api, path: str, field: str, body: Body
) -> None:
    response = await _post(api, path, body({"lone": "\ud800"}))
    assert response.status_code in (400, 422), response.text
    assert "surrogate" in json.dumps(response.json()["detail"])


# JSON as an attacker may write it: any scalar (lone surrogates included), lists and objects, sometimes
# nested far deeper than st.recursive would go on its own.
_text = st.text(max_size=20) | st.sampled_from(["\ud800", "a\udfffb", "\x00", '"\\', "\u2028"])
_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def _objects(draw: st.DrawFn) -> dict[str, Any]:
    value: dict[str, Any] = draw(st.dictionaries(_text, _json, max_size=4))
    for _ in range(draw(st.integers(0, MAX_JSON_DEPTH + 8))):
        value = {draw(_text): value}
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=_objects(), message=_objects(), context=_objects(), metadata=st.dictionaries(_text, _text))
async def test_whatever_the_api_accepts_can_be_read_back_and_listed(
    api: Api,
    state: dict[str, Any],
    message: dict[str, Any],
    context: dict[str, Any],
    metadata: dict[str, str],
) -> None:
    template = {"initialState": state, "initialMessages": [message], "metadata": metadata}
    agent = await _post(api, "/api/agents", {"name": "prop", "callTemplate": template})
    assert agent.status_code in (201, 400, 422), agent.text
    if agent.status_code == 201:
        agent_id = agent.json()["agentId"]
        assert (await api.client.get(f"/api/agents/{agent_id}")).json() == agent.json()
        listed = (await api.client.get("/api/agents", params={"pageSize": 1000})).json()["results"]
        assert agent.json() in listed
        call = await _post(api, f"/api/agents/{agent_id}/calls", {"templateContext": context})
        assert call.status_code in (201, 400, 422), call.text
        if call.status_code == 201:
            assert (await api.client.get(f"/api/calls/{call.json()['callId']}")).json() == _read(call.json())
    call = await _post(api, "/api/calls", template)
    assert call.status_code in (201, 400, 422), call.text
    if call.status_code == 201:
        assert (await api.client.get(f"/api/calls/{call.json()['callId']}")).json() == _read(call.json())
        listed = (await api.client.get("/api/calls", params={"pageSize": 1000})).json()["results"]
        assert _read(call.json()) in listed


def _read(created: dict[str, Any]) -> dict[str, Any]:
    """A created call as reading it shows it: the join URL only ever comes in the creating answer."""
    assert created["joinUrl"]
    return {**created, "joinUrl": None}
