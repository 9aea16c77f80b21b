"""Secrets stay secret through a whole call: provider credentials, agent headers, join tokens and the API key
appear in no event, no log record (any logger, at DEBUG) and no API answer beyond a 4-character prefix."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
from nats.aio.client import Client

from callbridge.common import buckets, subjects
from callbridge.common.events import CallEnded
from callbridge.devkit.provision import provision_twilio_agent
from callbridge.devkit.signals import tone
from callbridge.devkit.simulators.twilio import TwilioSimulator
from callbridge.devkit.stack import StackConfig, run_stack
from callbridge.devkit.timeline import follow_call
from tests.e2e.agent_server import agent_server
from tests.e2e.leaks import capture_logs, leaks, stream_text

RATE_HZ = 8000


def _token(url: str) -> str:
    """The credential of a join URL: the MAC after the expiry (the expiry itself is not secret)."""
    return url.rsplit("/", 1)[1].split(".", 1)[1]


async def test_no_secret_reaches_events_logs_kv_or_api_answers_beyond_a_prefix(
    nats_url: str, nats_client: Client, clean_jetstream: None
) -> None:
    planted: dict[str, str] = {}

    def plant(name: str, value: str) -> str:
        planted[name] = value
        return value

    api_key = plant("API key", "cbk-" + secrets.token_urlsafe(24))
    secret_key = plant("secret key", secrets.token_urlsafe(40))
    answers: dict[str, str] = {}
    creation_answers: dict[str, str] = {}
    """Answers to the requests that create calls: the one place a full join URL is returned."""

    with capture_logs() as logs:
        config = StackConfig(nats_url=nats_url, api_key=api_key, secret_key=secret_key, log_level="DEBUG")
        async with run_stack(config) as stack, agent_server(echo=True) as (agent_url, peers):
            logs.attach()  # uvicorn configured its own loggers while starting
            template_headers = {
                "Authorization": plant("template Authorization", "Bearer " + secrets.token_urlsafe(24)),
                "X-Agent-Key": plant("template X-Agent-Key", secrets.token_urlsafe(24)),
            }
            backend = {"websocket": {"url": agent_url, "inputSampleRate": 16000, "headers": template_headers}}
            twilio_token = plant("Twilio auth token", secrets.token_urlsafe(24))
            nobody = "http://127.0.0.1:9/callbacks"  # the discard port: every delivery attempt fails
            template_callbacks = {
                "ended": {
                    "url": nobody,
                    "secrets": [plant("template callback secret", secrets.token_urlsafe(24))],
                }
            }
            provisioned = await provision_twilio_agent(
                stack.webhooks_url,
                api_key,
                stack.public_base_url,
                call_template={"agentBackend": backend, "callbacks": template_callbacks},
                auth_token=twilio_token,
            )
            agent_id = provisioned.agent_id
            async with httpx.AsyncClient(
                base_url=stack.webhooks_url, headers={"X-API-Key": api_key}, timeout=10
            ) as api:

                async def keep(name: str, response: httpx.Response) -> Any:
                    assert response.status_code < 300, f"{name}: {response.status_code} {response.text}"
                    answers[name] = response.text
                    return response.json()

                for provider, body in {
                    "telnyx": {
                        "accountSid": "telnyx-account",
                        "apiKey": plant("Telnyx API key", "KEY" + secrets.token_urlsafe(24)),
                        "publicKey": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
                    },
                    "plivo": {
                        "authId": "MA" + secrets.token_hex(9).upper(),
                        "authToken": plant("Plivo auth token", secrets.token_urlsafe(24)),
                    },
                    "exotel": {
                        "accountSid": "exotel-sid",
                        "apiKey": "exotel-key",
                        "apiToken": plant("Exotel API token", secrets.token_urlsafe(24)),
                        "webhookSecret": plant("Exotel webhook secret", secrets.token_urlsafe(24)),
                    },
                }.items():
                    path = f"/api/telephony_configs/{provider}"
                    await keep(f"POST {path}", await api.post(path, json=body))

                override_auth = plant("agent call override header", "Bearer " + secrets.token_urlsafe(24))
                response = await api.post(
                    f"/api/agents/{agent_id}/calls",
                    json={
                        "agentBackend": {
                            "websocket": {"url": agent_url, "headers": {"X-Override": override_auth}}
                        }
                    },
                )
                assert response.status_code == 201, response.text
                agent_call = response.json()
                creation_answers["POST agent call"] = response.text
                plant("agent call join token", _token(agent_call["joinUrl"]))
                call_auth = plant("call header", secrets.token_urlsafe(24))
                callback_secret = plant("call callback secret", secrets.token_urlsafe(24))
                response = await api.post(
                    "/api/calls",
                    json={
                        "agentBackend": {
                            "websocket": {"url": agent_url, "headers": {"X-Call-Key": call_auth}}
                        },
                        "callbacks": {"joined": {"url": nobody, "secrets": [callback_secret]}},
                    },
                )
                assert response.status_code == 201, response.text
                direct_call = response.json()
                creation_answers["POST call"] = response.text
                plant("call join token", _token(direct_call["joinUrl"]))

                simulator = TwilioSimulator(
                    provisioned.webhook_url, twilio_token, provisioned.account_sid, allow_insecure_ws=True
                )
                answer = await simulator.incoming_call(from_number="+15550001111", to_number="+15550002222")
                plant("inbound join token", _token(answer.stream_url))
                inbound_id = answer.parameters["callId"]
                async with follow_call(nats_url, inbound_id) as queue:
                    await simulator.stream(answer, tone(440.0, 0.6, RATE_HZ, -10.0), tail_s=0.2)
                    async with asyncio.timeout(10):
                        while not isinstance(await queue.get(), CallEnded):
                            pass
                (peer,) = peers
                # The agent got the header values themselves: media decrypted them to connect.
                assert peer.headers["Authorization"] == template_headers["Authorization"]
                assert peer.headers["X-Agent-Key"] == template_headers["X-Agent-Key"]

                agent = await keep("GET agent", await api.get(f"/api/agents/{agent_id}"))
                await keep("GET agents", await api.get("/api/agents"))
                await keep("GET agent calls", await api.get(f"/api/agents/{agent_id}/calls"))
                await keep("GET calls", await api.get("/api/calls"))
                for call_id in (inbound_id, agent_call["callId"], direct_call["callId"]):
                    await keep(f"GET call {call_id}", await api.get(f"/api/calls/{call_id}"))
                for provider in ("twilio", "telnyx", "plivo", "exotel"):
                    path = f"/api/telephony_configs/{provider}"
                    await keep(f"GET {path}", await api.get(path))
                inbound = await keep("GET inbound call", await api.get(f"/api/calls/{inbound_id}"))
            logs.attach()

    # What the API shows instead: header names with at most 4 characters of each value, under a name
    # that says so; a call read back has no join URL.
    websocket = agent["callTemplate"]["agentBackend"]["websocket"]
    assert "headers" not in websocket
    assert websocket["headerValuePrefixes"] == {
        "Authorization": "Bear",
        "X-Agent-Key": template_headers["X-Agent-Key"][:4],
    }
    assert inbound["agentBackend"]["websocket"]["headerValuePrefixes"]["Authorization"] == "Bear"
    assert inbound["joinUrl"] is None
    assert inbound["endReason"] == "hangup"
    assert agent_call["joinUrl"].startswith(stack.media_public_url)

    js = nats_client.jetstream()
    events = await stream_text(js, subjects.EVENTS_STREAM, subjects.EVENTS_WILDCARD)
    stored = {
        bucket: await stream_text(js, f"KV_{bucket}", f"$KV.{bucket}.>")
        for bucket in (buckets.AGENTS, buckets.CALLS, buckets.TELEPHONY_CONFIGS)
    }
    # The haystacks are full: a search in nothing would find nothing.
    assert events.count(f'"callId":"{inbound_id}"') >= 3  # created, joined, ended at least
    assert "connection open" in logs.text
    assert f"/api/agents/{agent_id}/telephony_xml" in logs.text
    assert logs.count > 200

    haystacks = {"events": events, "logs": logs.text, **answers}
    haystacks.update({f"KV {name}": text for name, text in stored.items()})
    assert leaks(haystacks, planted) == []
    not_join_tokens = {name: value for name, value in planted.items() if "join token" not in name}
    assert leaks(creation_answers, not_join_tokens) == []
