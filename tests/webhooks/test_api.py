"""The REST API over real HTTP: API key, agents, calls, pagination, credentials."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from callbridge.common import subjects
from callbridge.common.events import CallCreated, parse_event
from tests.webhooks.helpers import MEDIA_PUBLIC_URL, Api

TWILIO_SID = "AC" + "1" * 32


async def test_api_routes_need_the_api_key(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        missing = await anonymous.get("/api/agents")
        wrong = await anonymous.get("/api/agents", headers={"X-API-Key": "nope"})
    assert missing.status_code == 401
    assert wrong.status_code == 403
    assert (await api.client.get("/api/agents")).status_code == 200


async def test_health_and_openapi_are_served(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    schema = (await api.client.get("/openapi.json")).json()
    assert "/api/agents/{agent_id}/telephony_xml" in schema["paths"]


async def test_agent_crud(api: Api) -> None:
    created = await api.client.post(
        "/api/agents", json={"name": "support", "callTemplate": {"systemPrompt": "Hi {{name}}"}}
    )
    assert created.status_code == 201, created.text
    agent = created.json()
    agent_id = agent["agentId"]
    assert agent["callTemplate"]["systemPrompt"] == "Hi {{name}}"
    assert (await api.client.get(f"/api/agents/{agent_id}")).json()["name"] == "support"
    patched = await api.client.patch(f"/api/agents/{agent_id}", json={"name": "sales"})
    assert patched.json()["name"] == "sales"
    assert patched.json()["callTemplate"]["systemPrompt"] == "Hi {{name}}"
    listing = (await api.client.get("/api/agents")).json()
    assert [a["agentId"] for a in listing["results"]] == [agent_id]
    assert (await api.client.delete(f"/api/agents/{agent_id}")).status_code == 204
    assert (await api.client.get(f"/api/agents/{agent_id}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": ""}, "name"),
        ({"name": "ok", "callTemplate": {"joinTimeout": "soon"}}, "invalid duration"),
        ({"name": "ok", "bogus": 1}, "bogus"),
    ],
)
async def test_invalid_agent_bodies_get_a_clear_422(api: Api, body: dict[str, object], fragment: str) -> None:
    response = await api.client.post("/api/agents", json=body)
    assert response.status_code == 422
    assert fragment in response.text


async def test_create_call_returns_a_signed_join_url_and_publishes_created(
    api: Api, nats_client: Client
) -> None:
    js = nats_client.jetstream()
    response = await api.client.post(
        "/api/calls", json={"systemPrompt": "hello", "joinTimeout": "20s", "agentBackend": {"echo": {}}}
    )
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["joinUrl"].startswith(f"{MEDIA_PUBLIC_URL}/calls/{call['callId']}/telephony/")
    assert "?" not in call["joinUrl"]
    assert call["joinTimeout"] == "20s"
    assert call["maxDuration"] == "3600s"
    assert call["joined"] is None
    assert call["endReason"] is None
    assert call["medium"] is None  # not said: media recognises the provider from the stream
    fetched = (await api.client.get(f"/api/calls/{call['callId']}")).json()
    assert fetched == {**call, "joinUrl": None}  # the join URL is in the creating answer only
    subscription = await js.subscribe(
        subjects.call_event(call["callId"], "created"), deliver_policy=DeliverPolicy.ALL
    )
    message = await subscription.next_msg(timeout=5)
    event = parse_event(message.subject, message.data)
    assert isinstance(event, CallCreated)
    assert str(event.call.call_id) == call["callId"]
    assert event.call.join_url is None


async def test_outgoing_calls_need_the_providers_credentials_imported(api: Api) -> None:
    response = await api.client.post(
        "/api/calls",
        json={"medium": {"twilio": {"outgoing": {"to": "+15550001111", "from": "+15550002222"}}}},
    )
    assert response.status_code == 422
    assert "medium.twilio.outgoing" in response.json()["detail"]
    assert "POST /api/telephony_configs/twilio" in response.json()["detail"]
    assert (await api.client.get("/api/calls")).json()["total"] == 0


async def test_agent_calls_fill_templates_and_apply_overrides(api: Api) -> None:
    agent = (
        await api.client.post(
            "/api/agents",
            json={
                "name": "a1",
                "callTemplate": {"systemPrompt": "Talk to {{customer.name}}", "maxDuration": "60s"},
            },
        )
    ).json()
    response = await api.client.post(
        f"/api/agents/{agent['agentId']}/calls",
        json={
            "templateContext": {"customer": {"name": "Jane"}},
            "maxDuration": "30s",
            "metadata": {"k": "v"},
        },
    )
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["systemPrompt"] == "Talk to Jane"
    assert call["maxDuration"] == "30s"
    assert call["agentId"] == agent["agentId"]
    assert call["templateContext"] == {"customer": {"name": "Jane"}}
    missing = await api.client.post(f"/api/agents/{agent['agentId']}/calls", json={"templateContext": {}})
    assert missing.status_code == 422
    assert "customer.name" in missing.json()["detail"]
    unknown = await api.client.post(f"/api/agents/{uuid4()}/calls", json={})
    assert unknown.status_code == 404
    agent_calls = (await api.client.get(f"/api/agents/{agent['agentId']}/calls")).json()
    assert [c["callId"] for c in agent_calls["results"]] == [call["callId"]]


async def test_calls_are_paginated_newest_first(api: Api) -> None:
    ids = [(await api.client.post("/api/calls", json={})).json()["callId"] for _ in range(5)]
    first = (await api.client.get("/api/calls", params={"pageSize": 2})).json()
    assert first["total"] == 5
    assert [c["callId"] for c in first["results"]] == ids[::-1][:2]
    assert first["previous"] is None
    second = (await api.client.get(first["next"])).json()
    third = (await api.client.get(second["next"])).json()
    assert [c["callId"] for c in second["results"] + third["results"]] == ids[::-1][2:]
    assert third["next"] is None
    assert (await api.client.get("/api/calls", params={"cursor": "garbage!"})).status_code == 422


async def test_twilio_credentials_are_write_only(api: Api) -> None:
    assert (await api.client.get("/api/telephony_configs/twilio")).status_code == 404
    body = {"accountSid": TWILIO_SID, "authToken": "secret-token-123456", "callCreationAllowAllAgents": True}
    created = await api.client.post("/api/telephony_configs/twilio", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["authTokenPrefix"] == "secr"
    assert "secret-token-123456" not in created.text
    assert (await api.client.post("/api/telephony_configs/twilio", json=body)).status_code == 409
    agent_id = str(uuid4())
    bad = await api.client.patch(
        "/api/telephony_configs/twilio", json={"callCreationAllowedAgentIds": [agent_id]}
    )
    assert bad.status_code == 422
    patched = await api.client.patch(
        "/api/telephony_configs/twilio",
        json={
            "callCreationAllowAllAgents": False,
            "callCreationAllowedAgentIds": [agent_id],
            "authToken": "other-token-99",
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["callCreationAllowedAgentIds"] == [agent_id]
    assert patched.json()["authTokenPrefix"] == "othe"
    assert "other-token-99" not in (await api.client.get("/api/telephony_configs/twilio")).text
    assert (await api.client.delete("/api/telephony_configs/twilio")).status_code == 204
    assert (await api.client.get("/api/telephony_configs/twilio")).status_code == 404


async def test_calls_carry_the_trace_of_the_request_that_created_them(api: Api) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    call = (await api.client.post("/api/calls", json={}, headers=headers)).json()
    _, call_trace_id, span_id, _ = call["traceContext"]["traceparent"].split("-")
    assert call_trace_id == trace_id  # the caller's trace, continued by the webhooks span
    assert span_id != "00f067aa0ba902b7"
    untraced = (await api.client.post("/api/calls", json={})).json()
    assert untraced["traceContext"]["traceparent"].split("-")[1] != trace_id
