"""Test helpers: provider configs imported over the API, and provider requests signed the way each provider
signs them (reference §5), written here independently of the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twilio.request_validator import RequestValidator

from tests.webhooks.helpers import Api

# §5.2's synthetic vector: seed 0x00..0x1f and its public key.
TELNYX_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TELNYX_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
TELNYX_ACCOUNT_SID = "8c1c0a4e-5e6b-4a51-9a3b-0d7f3b2c1a00"
TELNYX_API_KEY = "KEY0190TESTTESTTESTTEST"

PLIVO_AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
PLIVO_AUTH_TOKEN = "plivo-auth-token-for-tests"

EXOTEL_SECRET = "exotel-webhook-secret-0123456789"
EXOTEL_API_TOKEN = "exotel-api-token-123"

TWILIO_ACCOUNT_SID = "AC" + "a" * 32
TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

CONFIGS: dict[str, dict[str, Any]] = {
    "twilio": {"accountSid": TWILIO_ACCOUNT_SID, "authToken": TWILIO_AUTH_TOKEN},
    "telnyx": {"accountSid": TELNYX_ACCOUNT_SID, "apiKey": TELNYX_API_KEY, "publicKey": TELNYX_PUBLIC_KEY},
    "plivo": {"authId": PLIVO_AUTH_ID, "authToken": PLIVO_AUTH_TOKEN},
    "exotel": {
        "accountSid": "exotel-sid",
        "apiKey": "exotel-api-key",
        "apiToken": EXOTEL_API_TOKEN,
        "webhookSecret": EXOTEL_SECRET,
    },
}


async def create_agent(api: Api, call_template: dict[str, Any] | None = None) -> str:
    template = {"systemPrompt": "Caller is {{user.phone_number}}", "agentBackend": {"echo": {}}}
    response = await api.client.post(
        "/api/agents", json={"name": "inbound", "callTemplate": {**template, **(call_template or {})}}
    )
    assert response.status_code == 201, response.text
    agent_id: str = response.json()["agentId"]
    return agent_id


async def import_config(api: Api, provider: str, agent_id: str, **overrides: Any) -> None:
    body = {
        **CONFIGS[provider],
        "callCreationAllowedAgentIds": [agent_id],
        "requestContextMapping": {"From": "user.phone_number", "CallFrom": "user.phone_number"},
        **overrides,
    }
    response = await api.client.post(f"/api/telephony_configs/{provider}", json=body)
    assert response.status_code == 201, response.text


async def call_count(api: Api) -> int:
    return int((await api.client.get("/api/calls")).json()["total"])


def telnyx_headers(body: bytes, *, timestamp: int | None = None, standard: bool = False) -> dict[str, str]:
    """§5.2: base64 ed25519 over ``f"{timestamp}|{raw body}"``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = base64.b64encode(TELNYX_PRIVATE_KEY.sign(stamp.encode() + b"|" + body)).decode()
    if standard:
        return {"webhook-signature": f"v1a,{signature}", "webhook-timestamp": stamp}
    return {"telnyx-signature-ed25519": signature, "telnyx-timestamp": stamp}


def plivo_signature(url: str, params: dict[str, str], nonce: str, token: str = PLIVO_AUTH_TOKEN) -> str:
    """§5.3 for a POST to a URL without a query: ``url?`` + sorted ``keyvalue``, then ``.nonce``."""
    base = url + ("?" + "".join(f"{key}{params[key]}" for key in sorted(params)) if params else "")
    digest = hmac.new(token.encode(), f"{base}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def plivo_headers(url: str, params: dict[str, str], nonce: str = "05429567804466091622") -> dict[str, str]:
    return {
        "X-Plivo-Signature-V3": plivo_signature(url, params, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def twilio_headers(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)}


def basic_auth(secret: str, user: str = "exotel") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


async def post_form(api: Api, path: str, form: dict[str, str], headers: dict[str, str]) -> httpx.Response:
    """POST as a provider does: no API key, form-encoded, exactly the signed body."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as provider:
        return await provider.post(path, content=urlencode(form).encode(), headers={**FORM, **headers})


def telnyx_form(**extra: str) -> dict[str, str]:
    return {
        "AccountSid": TELNYX_ACCOUNT_SID,
        "CallSid": "v3:abcDEF-123_xyz",
        "From": "+15551234567",
        "To": "+15557654321",
        "CallStatus": "ringing",
        "Direction": "inbound",
        **extra,
    }


def plivo_form(**extra: str) -> dict[str, str]:
    return {
        "CallUUID": "6b1a6f3e-0000-4000-8000-00000000abcd",
        "From": "14155550100",
        "To": "14155550199",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "Event": "StartApp",
        **extra,
    }


def exotel_query(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "b6cf1e2a3c4d5e6f7a8b9c0d1e2f3a4b",
        "CallFrom": "09876543210",
        "CallTo": "08012345678",
        "Direction": "incoming",
        **extra,
    }


async def post_telnyx(api: Api, agent_id: str, form: dict[str, str], **signing: Any) -> httpx.Response:
    body = urlencode(form).encode()
    return await post_form_bytes(
        api, f"/api/agents/{agent_id}/telephony_xml", body, telnyx_headers(body, **signing)
    )


async def post_form_bytes(api: Api, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as provider:
        return await provider.post(path, content=body, headers={**FORM, **headers})


async def post_plivo(api: Api, agent_id: str, form: dict[str, str], nonce: str = "1") -> httpx.Response:
    path = f"/api/agents/{agent_id}/telephony_xml"
    return await post_form(api, path, form, plivo_headers(api.public_base_url + path, form, nonce))


async def get_exotel(api: Api, path: str, query: dict[str, str], headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as provider:
        return await provider.get(path, params=query, headers=headers)
