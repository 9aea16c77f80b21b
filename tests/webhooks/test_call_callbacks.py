"""A call's own ``callbacks`` (Ultravox §1.1): accepted on a call definition, an agent's template and an
agent call's overrides; their secrets sealed at rest and answered as prefixes only; ``billed`` refused."""

from __future__ import annotations

import json
from typing import Any

import orjson
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.secrets import SecretBox
from tests.webhooks.helpers import SECRET_KEY, Api

JOINED_SECRET = "cb-joined-secret-0123456789"
ENDED_SECRET = "cb-ended-secret-9876543210"


def _callbacks(url: str = "https://receiver.example.test/cb") -> dict[str, Any]:
    return {
        "callbacks": {
            "joined": {"url": f"{url}/joined", "secrets": [JOINED_SECRET]},
            "ended": {"url": f"{url}/ended", "secrets": ["old-secret-1234", ENDED_SECRET]},
        }
    }


async def _raw(nats_client: Client, bucket: str, key: str) -> bytes:
    entry = await (await nats_client.jetstream().key_value(bucket)).get(key)
    assert entry.value is not None
    return entry.value


def _shown(answer: dict[str, Any], url: str = "https://receiver.example.test/cb") -> None:
    assert answer["callbacks"] == {
        "joined": {"url": f"{url}/joined", "secretPrefixes": ["cb-j"]},
        "ended": {"url": f"{url}/ended", "secretPrefixes": ["old-", "cb-e"]},
    }


async def test_a_call_definition_takes_callbacks_and_answers_only_secret_prefixes(
    api: Api, nats_client: Client
) -> None:
    response = await api.client.post("/api/calls", json=_callbacks())
    assert response.status_code == 201, response.text
    call = response.json()
    _shown(call)
    assert call["callbackDeliveries"] == {"joined": None, "ended": None}
    for secret in (JOINED_SECRET, ENDED_SECRET):
        assert secret not in response.text
    read = await api.client.get(f"/api/calls/{call['callId']}")
    _shown(read.json())
    assert JOINED_SECRET not in read.text
    stored = await _raw(nats_client, buckets.CALLS, call["callId"])
    assert JOINED_SECRET.encode() not in stored
    assert ENDED_SECRET.encode() not in stored
    sealed = orjson.loads(stored)["callbacks"]
    box = SecretBox(SECRET_KEY)
    assert [box.decrypt(s) for s in sealed["ended"]["sealedSecrets"]] == ["old-secret-1234", ENDED_SECRET]
    events = await api.client.get(f"/api/calls/{call['callId']}/events")
    assert events.status_code == 200
    assert JOINED_SECRET not in events.text
    assert "sealedSecrets" not in events.text


async def test_an_agent_template_and_an_agent_call_override_seal_their_callbacks(
    api: Api, nats_client: Client
) -> None:
    created = await api.client.post("/api/agents", json={"name": "cb", "callTemplate": _callbacks()})
    assert created.status_code == 201, created.text
    agent = created.json()
    _shown(agent["callTemplate"])
    assert JOINED_SECRET not in created.text
    stored = await _raw(nats_client, buckets.AGENTS, agent["agentId"])
    assert JOINED_SECRET.encode() not in stored

    from_template = await api.client.post(f"/api/agents/{agent['agentId']}/calls", json={})
    assert from_template.status_code == 201, from_template.text
    _shown(from_template.json())
    override_url = "https://other.example.test/x"
    overridden = await api.client.post(f"/api/agents/{agent['agentId']}/calls", json=_callbacks(override_url))
    assert overridden.status_code == 201, overridden.text
    _shown(overridden.json(), override_url)
    stored_call = await _raw(nats_client, buckets.CALLS, overridden.json()["callId"])
    assert JOINED_SECRET.encode() not in stored_call
    sealed = orjson.loads(stored_call)["callbacks"]["joined"]["sealedSecrets"]
    assert [SecretBox(SECRET_KEY).decrypt(s) for s in sealed] == [JOINED_SECRET]


async def test_billed_is_refused_as_not_supported_everywhere(api: Api) -> None:
    agent_id = (await api.client.post("/api/agents", json={"name": "h", "callTemplate": {}})).json()[
        "agentId"
    ]
    fields = {"callbacks": {"billed": {"url": "https://receiver.example.test/billed"}}}
    for method, path, body in (
        ("POST", "/api/calls", fields),
        ("POST", "/api/agents", {"name": "b", "callTemplate": fields}),
        ("PATCH", f"/api/agents/{agent_id}", {"callTemplate": fields}),
        ("POST", f"/api/agents/{agent_id}/calls", fields),
    ):
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, f"{method} {path}: {response.text}"
        detail = json.dumps(response.json()["detail"])
        assert "callbacks.billed is not supported" in detail, detail
    assert (await api.client.get("/api/calls")).json()["total"] == 0


async def test_malformed_callbacks_are_refused_naming_the_field(api: Api) -> None:
    for callbacks, fragment in (
        ({"joined": {"url": "ftp://receiver.example.test/x"}}, "url"),
        ({"ended": {"url": "https://r.example.test/" + "x" * 200}}, "longer than 200"),
        ({"ended": {"url": "https://r.example.test/x", "secrets": ["short"]}}, "secrets"),
        ({"ended": {"url": "https://r.example.test/x", "secretPrefixes": ["abcd"]}}, "secretPrefixes"),
        ({"started": {"url": "https://r.example.test/x"}}, "started"),
    ):
        response = await api.client.post("/api/calls", json={"callbacks": callbacks})
        assert response.status_code == 422, response.text
        assert fragment in response.text, response.text
