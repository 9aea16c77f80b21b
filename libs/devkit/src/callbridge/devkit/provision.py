"""Set a deployment up for simulated calls: an agent and imported provider credentials, via the REST API,
and a simulator signed with those credentials."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.base import ProviderSimulator
from callbridge.devkit.simulators.exotel import ExotelSimulator
from callbridge.devkit.simulators.plivo import PlivoSimulator
from callbridge.devkit.simulators.telnyx import TelnyxSimulator
from callbridge.devkit.simulators.twilio import TwilioSimulator

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
    config = {
        "accountSid": account_sid,
        "authToken": auth_token,
        "requestContextMapping": {"From": "user.phone_number"},
    }
    agent_id = await _agent_with_config(api_url, api_key, "twilio", name, call_template, config)
    webhook_url = f"{public_base_url.rstrip('/')}/api/agents/{agent_id}/telephony_xml"
    return Provisioned(agent_id, account_sid, auth_token, webhook_url)


async def provision_simulated_agent(
    api_url: str,
    api_key: str,
    public_base_url: str,
    provider: Provider,
    *,
    name: str = "simulated",
    call_template: dict[str, Any] | None = None,
    allow_insecure_ws: bool = True,
    **simulator_options: Any,
) -> tuple[ProviderSimulator[Any] | TwilioSimulator, str]:
    """Create an agent, import fresh credentials for ``provider``, and return a simulator that signs its
    webhooks with them, with the agent's id. ``simulator_options`` go to the simulator's constructor
    (e.g. Telnyx ``reorder_probability``, Plivo ``played_event``, Exotel ``sample_rate_format``)."""

    def url(agent_id: str) -> str:
        return f"{public_base_url.rstrip('/')}/api/agents/{agent_id}/telephony_xml"

    if provider is Provider.TWILIO:
        twilio = await provision_twilio_agent(
            api_url, api_key, public_base_url, name=name, call_template=call_template
        )
        simulator = TwilioSimulator(
            twilio.webhook_url,
            twilio.auth_token,
            twilio.account_sid,
            allow_insecure_ws=allow_insecure_ws,
            **simulator_options,
        )
        return simulator, twilio.agent_id
    if provider is Provider.TELNYX:
        key = Ed25519PrivateKey.generate()
        config = {
            "accountSid": "simulated-telnyx",
            "apiKey": "KEY" + secrets.token_hex(16),
            "publicKey": base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        }
        agent_id = await _agent_with_config(api_url, api_key, "telnyx", name, call_template, config)
        telnyx = TelnyxSimulator(
            url(agent_id), private_key=key, allow_insecure_ws=allow_insecure_ws, **simulator_options
        )
        return telnyx, agent_id
    if provider is Provider.PLIVO:
        auth_id, auth_token = "MA" + secrets.token_hex(9).upper(), secrets.token_hex(16)
        config = {"authId": auth_id, "authToken": auth_token}
        agent_id = await _agent_with_config(api_url, api_key, "plivo", name, call_template, config)
        plivo = PlivoSimulator(
            url(agent_id), auth_id, auth_token, allow_insecure_ws=allow_insecure_ws, **simulator_options
        )
        return plivo, agent_id
    secret = secrets.token_urlsafe(24)
    config = {
        "accountSid": "simulated-exotel",
        "apiKey": "key" + secrets.token_hex(8),
        "apiToken": secrets.token_hex(16),
        "webhookSecret": secret,
    }
    agent_id = await _agent_with_config(api_url, api_key, "exotel", name, call_template, config)
    exotel = ExotelSimulator(url(agent_id), secret, allow_insecure_ws=allow_insecure_ws, **simulator_options)
    return exotel, agent_id


async def _agent_with_config(
    api_url: str,
    api_key: str,
    provider: str,
    name: str,
    call_template: dict[str, Any] | None,
    config: dict[str, Any],
) -> str:
    """Create the agent, then import ``config`` allowing it (or add it to the config already imported)."""
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": api_key}, timeout=HTTP_TIMEOUT_S
    ) as api:
        response = await api.post("/api/agents", json={"name": name, "callTemplate": call_template or {}})
        response.raise_for_status()
        agent_id: str = response.json()["agentId"]
        path = f"/api/telephony_configs/{provider}"
        response = await api.post(path, json={**config, "callCreationAllowedAgentIds": [agent_id]})
        if response.status_code == 409:
            current = (await api.get(path)).json()
            allowed = sorted({*current["callCreationAllowedAgentIds"], agent_id})
            response = await api.patch(
                path,
                json={**config, "callCreationAllowedAgentIds": allowed, "callCreationAllowAllAgents": False},
            )
        response.raise_for_status()
    return agent_id


class ProvisioningRefusedError(Exception):
    """Setting up would change something the user made (their own provider credentials)."""


async def provision_demo_agent(
    api_url: str, api_key: str, public_base_url: str, *, name: str, call_template: dict[str, Any]
) -> Provisioned:
    """The demo's agent and simulated Twilio credentials, made once and reused by every later demo.

    The agent named ``name`` is reused if there is one; the simulated Twilio account gets a fresh auth
    token each time (only this simulator needs it). Twilio credentials the user imported are never touched:
    ProvisioningRefusedError says so instead.
    """
    auth_token = secrets.token_hex(16)
    async with httpx.AsyncClient(
        base_url=api_url, headers={"X-API-Key": api_key}, timeout=HTTP_TIMEOUT_S
    ) as api:
        path = "/api/telephony_configs/twilio"
        current = await api.get(path)
        config: dict[str, Any] | None = None
        if current.status_code != 404:
            current.raise_for_status()
            config = current.json()
            if config["accountSid"] != SIMULATED_ACCOUNT_SID:
                raise ProvisioningRefusedError(
                    f"Twilio credentials of account {config['accountSid']} are imported, and the demo would "
                    "have to replace them with simulated ones"
                )
        agent_id = await _agent_named(api, name) or await _create_agent(api, name, call_template)
        if config is None:
            response = await api.post(
                path,
                json={
                    "accountSid": SIMULATED_ACCOUNT_SID,
                    "authToken": auth_token,
                    "callCreationAllowedAgentIds": [agent_id],
                    "requestContextMapping": {"From": "user.phone_number"},
                },
            )
        else:
            allowed = sorted({*config["callCreationAllowedAgentIds"], agent_id})
            response = await api.patch(
                path, json={"authToken": auth_token, "callCreationAllowedAgentIds": allowed}
            )
        response.raise_for_status()
    webhook_url = f"{public_base_url.rstrip('/')}/api/agents/{agent_id}/telephony_xml"
    return Provisioned(agent_id, SIMULATED_ACCOUNT_SID, auth_token, webhook_url)


async def _agent_named(api: httpx.AsyncClient, name: str) -> str | None:
    """The newest agent called ``name``, following the pages of the agent list."""
    url: str | None = "/api/agents?pageSize=1000"
    while url is not None:
        response = await api.get(url)
        response.raise_for_status()
        page = response.json()
        for agent in page["results"]:
            if agent["name"] == name:
                found: str = agent["agentId"]
                return found
        url = page.get("next")
    return None


async def _create_agent(api: httpx.AsyncClient, name: str, call_template: dict[str, Any]) -> str:
    response = await api.post("/api/agents", json={"name": name, "callTemplate": call_template})
    response.raise_for_status()
    agent_id: str = response.json()["agentId"]
    return agent_id
