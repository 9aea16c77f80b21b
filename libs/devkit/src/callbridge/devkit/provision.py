"""Set a deployment up for simulated Twilio calls: an agent and imported credentials, via the REST API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

SIMULATED_ACCOUNT_SID = "AC" + "5" * 32
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Provisioned:
    agent_id: str
    account_sid: str
    auth_token: str
    webhook_url: str
    """The agent's incoming-call webhook, as the provider reaches it (public base URL)."""


async def provision_twilio_agent(
    api_url: str,
    api_key: str,
    public_base_url: str,
    *,
    name: str = "demo",
    call_template: dict[str, Any] | None = None,
    auth_token: str | None = None,
    account_sid: str = SIMULATED_ACCOUNT_SID,
) -> Provisioned:
    """Create an agent and import (or update) Twilio credentials that allow it to take calls."""
    auth_token = auth_token or secrets.token_hex(16)
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": api_key}, timeout=HTTP_TIMEOUT_S
    ) as api:
        response = await api.post("/api/agents", json={"name": name, "callTemplate": call_template or {}})
        response.raise_for_status()
        agent_id: str = response.json()["agentId"]
        config = {
            "accountSid": account_sid,
            "authToken": auth_token,
            "callCreationAllowedAgentIds": [agent_id],
            "requestContextMapping": {"From": "user.phone_number"},
        }
        response = await api.post("/api/telephony_configs/twilio", json=config)
        if response.status_code == 409:
            current = (await api.get("/api/telephony_configs/twilio")).json()
            allowed = sorted({*current["callCreationAllowedAgentIds"], agent_id})
            response = await api.patch(
                "/api/telephony_configs/twilio",
                json={**config, "callCreationAllowedAgentIds": allowed, "callCreationAllowAllAgents": False},
            )
        response.raise_for_status()
    webhook_url = f"{public_base_url.rstrip('/')}/api/agents/{agent_id}/telephony_xml"
    return Provisioned(agent_id, account_sid, auth_token, webhook_url)
