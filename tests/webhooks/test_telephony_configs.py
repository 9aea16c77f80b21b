"""Telnyx, Plivo and Exotel credentials over real HTTP: the same allow-list, context mapping and write-only
encrypted secrets as Twilio's."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from nats.aio.client import Client

from callbridge.common import buckets
from tests.webhooks.helpers import Api
from tests.webhooks.providers import (
    CONFIGS,
    EXOTEL_SECRET,
    PLIVO_AUTH_TOKEN,
    TELNYX_API_KEY,
    TELNYX_PUBLIC_KEY,
)

SECRETS = {
    "telnyx": {"apiKey": TELNYX_API_KEY, "publicKey": TELNYX_PUBLIC_KEY},
    "plivo": {"authToken": PLIVO_AUTH_TOKEN},
    "exotel": {"apiToken": CONFIGS["exotel"]["apiToken"], "webhookSecret": EXOTEL_SECRET},
}


@pytest.mark.parametrize("provider", ["telnyx", "plivo", "exotel"])
async def test_credentials_crud_keeps_secrets_write_only(
    api: Api, nats_client: Client, provider: str
) -> None:
    path = f"/api/telephony_configs/{provider}"
    assert (await api.client.get(path)).status_code == 404
    agent_id = str(uuid4())
    body = {
        **CONFIGS[provider],
        "callCreationAllowedAgentIds": [agent_id],
        "requestContextMapping": {"From": "f"},
    }
    created = await api.client.post(path, json=body)
    assert created.status_code == 201, created.text
    shown = created.json()
    for name, secret in SECRETS[provider].items():
        assert name not in shown
        assert shown[f"{name}Prefix"] == secret[:4]
        assert secret not in created.text
    assert shown["callCreationAllowedAgentIds"] == [agent_id]
    assert shown["requestContextMapping"] == {"From": "f"}
    assert (await api.client.post(path, json=body)).status_code == 409
    kv = await nats_client.jetstream().key_value(buckets.TELEPHONY_CONFIGS)
    stored = (await kv.get(provider)).value or b""
    assert all(secret.encode() not in stored for secret in SECRETS[provider].values())

    both = await api.client.patch(path, json={"callCreationAllowAllAgents": True})
    assert both.status_code == 422
    assert "callCreationAllowedAgentIds may not be set" in both.json()["detail"]
    name, secret = next(iter(SECRETS[provider].items()))
    new_secret = "Z" + secret[1:]
    patched = await api.client.patch(
        path, json={name: new_secret, "callCreationAllowedAgentIds": [], "callCreationAllowAllAgents": True}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()[f"{name}Prefix"] == new_secret[:4]
    assert patched.json()["callCreationAllowAllAgents"] is True
    nulled = await api.client.patch(path, json={name: None})
    assert nulled.status_code == 422
    assert f"{name} cannot be null" in nulled.json()["detail"]
    assert (await api.client.get(path)).json() == patched.json()
    assert (await api.client.delete(path)).status_code == 204
    assert (await api.client.get(path)).status_code == 404
    assert (await api.client.delete(path)).status_code == 404


async def test_telnyx_audio_default_is_validated_and_clearable(api: Api) -> None:
    path = "/api/telephony_configs/telnyx"
    bad = await api.client.post(path, json={**CONFIGS["telnyx"], "codec": "PCMU", "sampleRate": 16000})
    assert bad.status_code == 422
    assert "8000" in bad.text
    created = await api.client.post(path, json={**CONFIGS["telnyx"], "codec": "PCMU"})
    assert (created.json()["codec"], created.json()["sampleRate"]) == ("PCMU", None)
    mismatched = await api.client.patch(path, json={"sampleRate": 16000})
    assert mismatched.status_code == 422
    cleared = await api.client.patch(path, json={"codec": None, "sampleRate": 16000})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["codec"], cleared.json()["sampleRate"]) == (None, 16000)


@pytest.mark.parametrize(
    ("provider", "change", "fragment"),
    [
        ("telnyx", {"publicKey": "bm90LWEta2V5"}, "32 bytes"),
        ("telnyx", {"publicKey": "not base64!"}, "base64"),
        ("plivo", {"codec": "PCMU", "sampleRate": 16000}, "8000"),
        ("exotel", {"webhookSecret": "too-short"}, "webhookSecret"),
        ("exotel", {"webhookSecret": "has/a/slash/so/not/a/path/segment"}, "webhookSecret"),
        ("exotel", {"sampleRate": 44100}, "sampleRate"),
        ("exotel", {"subdomain": "api.example.com"}, "subdomain"),
    ],
)
async def test_invalid_credentials_get_a_clear_422(
    api: Api, provider: str, change: dict[str, object], fragment: str
) -> None:
    response = await api.client.post(
        f"/api/telephony_configs/{provider}", json={**CONFIGS[provider], **change}
    )
    assert response.status_code == 422
    assert fragment in response.text
    assert (await api.client.get(f"/api/telephony_configs/{provider}")).status_code == 404


async def test_provider_configs_need_the_api_key(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        response = await anonymous.post("/api/telephony_configs/plivo", json=CONFIGS["plivo"])
    assert response.status_code == 401
