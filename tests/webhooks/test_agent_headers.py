"""Agent backend headers are write-only: sealed in KV, shown as value prefixes, refused when malformed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.models.sealing import secret_prefix
from callbridge.common.secrets import SecretBox
from tests.webhooks.helpers import SECRET_KEY, Api

AGENT_URL = "wss://agent.example.test/ws"
TOKEN = "Bearer sk-live-0123456789abcdef"


def _websocket(headers: dict[str, str]) -> dict[str, Any]:
    return {"agentBackend": {"websocket": {"url": AGENT_URL, "headers": headers}}}


async def _raw(nats_client: Client, bucket: str, key: str) -> bytes:
    entry = await (await nats_client.jetstream().key_value(bucket)).get(key)
    assert entry.value is not None
    return entry.value


async def test_agent_headers_are_sealed_at_rest_and_answered_as_prefixes(
    api: Api, nats_client: Client
) -> None:
    created = await api.client.post(
        "/api/agents", json={"name": "h", "callTemplate": _websocket({"Authorization": TOKEN, "X-K": "ab"})}
    )
    assert created.status_code == 201, created.text
    agent = created.json()
    websocket = agent["callTemplate"]["agentBackend"]["websocket"]
    # A value shows at most 4 characters, never more than half of it.
    assert websocket["headerValuePrefixes"] == {"Authorization": "Bear", "X-K": "a"}
    assert "headers" not in websocket
    assert "sealedHeaders" not in websocket
    assert (await api.client.get(f"/api/agents/{agent['agentId']}")).json() == agent
    stored = await _raw(nats_client, buckets.AGENTS, agent["agentId"])
    assert TOKEN.encode() not in stored
    sealed = _sealed_headers(stored)
    assert SecretBox(SECRET_KEY).decrypt(sealed["Authorization"]) == TOKEN

    call = (await api.client.post(f"/api/agents/{agent['agentId']}/calls", json={})).json()
    assert call["agentBackend"]["websocket"]["headerValuePrefixes"] == {"Authorization": "Bear", "X-K": "a"}
    stored_call = await _raw(nats_client, buckets.CALLS, call["callId"])
    assert TOKEN.encode() not in stored_call
    assert SecretBox(SECRET_KEY).decrypt(_sealed_headers(stored_call)["X-K"]) == "ab"


async def test_a_call_override_and_a_call_definition_seal_their_own_headers(
    api: Api, nats_client: Client
) -> None:
    agent = (await api.client.post("/api/agents", json={"name": "o", "callTemplate": {}})).json()
    override = await api.client.post(
        f"/api/agents/{agent['agentId']}/calls", json=_websocket({"Authorization": "Bearer override-1"})
    )
    direct = await api.client.post("/api/calls", json=_websocket({"X-Api-Key": "direct-key-2"}))
    for response, name, value in (
        (override, "Authorization", "Bearer override-1"),
        (direct, "X-Api-Key", "direct-key-2"),
    ):
        assert response.status_code == 201, response.text
        call = response.json()
        assert call["agentBackend"]["websocket"]["headerValuePrefixes"] == {name: secret_prefix(value)}
        assert value not in response.text
        stored = await _raw(nats_client, buckets.CALLS, call["callId"])
        assert SecretBox(SECRET_KEY).decrypt(_sealed_headers(stored)[name]) == value


async def test_patching_the_template_replaces_its_headers(api: Api) -> None:
    agent = (
        await api.client.post("/api/agents", json={"name": "p", "callTemplate": _websocket({"A": "one-1"})})
    ).json()
    patched = await api.client.patch(
        f"/api/agents/{agent['agentId']}", json={"callTemplate": _websocket({"B": "two-22"})}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["callTemplate"]["agentBackend"]["websocket"]["headerValuePrefixes"] == {"B": "two"}


async def test_sending_back_the_prefixes_gets_a_422_saying_headers_are_write_only(api: Api) -> None:
    agent = (
        await api.client.post("/api/agents", json={"name": "r", "callTemplate": _websocket({"A": "a-1"})})
    ).json()
    response = await api.client.patch(
        f"/api/agents/{agent['agentId']}", json={"callTemplate": agent["callTemplate"]}
    )
    assert response.status_code == 422
    assert "write-only" in response.text


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"Bad Name": "x"}, "not an HTTP token"),
        ({"X-Callbridge-Call-Id": "x"}, "set by callbridge itself"),
        ({"Sec-WebSocket-Key": "x"}, "set by callbridge itself"),
        ({"X-A": "line\r\nX-Injected: 1"}, "visible ASCII"),
        ({"X-A": "1", "x-a": "2"}, "given twice"),
    ],
)
async def test_malformed_headers_are_refused_naming_the_header(
    api: Api, headers: dict[str, str], fragment: str
) -> None:
    response = await api.client.post("/api/calls", json=_websocket(headers))
    assert response.status_code == 422
    assert fragment in response.text


def _sealed_headers(stored: bytes) -> dict[str, str]:
    record = orjson.loads(stored)
    template = record.get("callTemplate", record)
    sealed: dict[str, str] = template["agentBackend"]["websocket"]["sealedHeaders"]
    return sealed
