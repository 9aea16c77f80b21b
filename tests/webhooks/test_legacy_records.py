"""Records written by callbridge 0.1 (agent headers in the clear) stay readable, are never answered in the
clear, and an agent's headers are sealed when webhooks starts."""

from __future__ import annotations

import uuid

import orjson
from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.models.call import Call
from callbridge.common.secrets import SecretBox
from tests.webhooks.helpers import SECRET_KEY, running_webhooks

TOKEN = "Bearer sk-legacy-0123456789"
LEGACY_BACKEND = {"websocket": {"url": "wss://agent.example.test/ws", "headers": {"Authorization": TOKEN}}}


async def test_plaintext_headers_of_an_old_version_are_sealed_and_never_answered(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    js = nats_client.jetstream()
    agents = await js.create_key_value(bucket=buckets.AGENTS, history=5)
    calls = await js.create_key_value(bucket=buckets.CALLS, history=5)
    agent_id, call_id = str(uuid.uuid4()), str(uuid.uuid4())
    await agents.put(
        agent_id,
        orjson.dumps(
            {
                "agentId": agent_id,
                "name": "old",
                "created": "2026-10-01T12:00:00Z",
                "callTemplate": {"agentBackend": LEGACY_BACKEND},
            }
        ),
    )
    old_call = {"callId": call_id, "created": "2026-10-01T12:00:00Z", "agentBackend": LEGACY_BACKEND}
    await calls.put(call_id, orjson.dumps(old_call))

    async with running_webhooks(nats_url) as api:
        agent = await api.client.get(f"/api/agents/{agent_id}")
        call = await api.client.get(f"/api/calls/{call_id}")
        listed = await api.client.get("/api/agents")
    for answer in (agent, call, listed):
        assert answer.status_code == 200, answer.text
        assert TOKEN[:8] not in answer.text
    websocket = agent.json()["callTemplate"]["agentBackend"]["websocket"]
    assert websocket["headerValuePrefixes"] == {"Authorization": "Bear"}

    stored_agent = (await agents.get(agent_id)).value or b""
    assert TOKEN.encode() not in stored_agent  # sealed at start-up
    sealed = orjson.loads(stored_agent)["callTemplate"]["agentBackend"]["websocket"]["sealedHeaders"]
    assert SecretBox(SECRET_KEY).decrypt(sealed["Authorization"]) == TOKEN
    # The old call keeps its plaintext headers (media still reads them) until it expires.
    stored_call = Call.model_validate_json((await calls.get(call_id)).value or b"")
    backend = stored_call.agent_backend.websocket
    assert backend is not None
    assert backend.open_headers(SecretBox(SECRET_KEY).decrypt) == {"Authorization": TOKEN}
