"""Creating outbound calls (``medium.<provider>.outgoing``) through the API: the provider account's
credentials and limits, the dial request queued for a dialer, and the 429s of a full account."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig

from callbridge.common import subjects
from callbridge.common.dialing import DialCall
from tests.webhooks.helpers import Api
from tests.webhooks.providers import (
    CONFIGS,
    TWILIO_ACCOUNT_SID,
    create_agent,
    post_form,
    twilio_headers,
)

TO = "+15550001111"
FROM = "+15550002222"


def outgoing(provider: str = "twilio", **extra: Any) -> dict[str, Any]:
    return {"medium": {provider: {"outgoing": {"to": TO, "from": FROM, **extra}}}}


async def import_config(api: Api, provider: str = "twilio", **limits: Any) -> None:
    body = {**CONFIGS[provider], "callCreationAllowAllAgents": True, **limits}
    response = await api.client.post(f"/api/telephony_configs/{provider}", json=body)
    assert response.status_code == 201, response.text


async def queued_dials(nats_client: Client, expected: int) -> list[tuple[DialCall, str]]:
    """The dial requests in the dial stream (taken off it), with their de-duplication ids."""
    js = nats_client.jetstream()
    subscription = await js.pull_subscribe(
        subjects.DIAL_SUBJECT, stream=subjects.DIAL_STREAM, config=ConsumerConfig(ack_wait=30)
    )
    found: list[tuple[DialCall, str]] = []
    while len(found) < expected:
        for message in await subscription.fetch(expected - len(found), timeout=5):
            found.append((DialCall.model_validate_json(message.data), (message.headers or {})["Nats-Msg-Id"]))
            await message.ack()
    await subscription.unsubscribe()
    return found


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo", "exotel"])
async def test_an_outgoing_call_is_stored_as_outbound_and_queued_for_a_dialer(
    api: Api, nats_client: Client, provider: str
) -> None:
    await import_config(api, provider)
    response = await api.client.post("/api/calls", json=outgoing(provider, additionalParams={"x": "1"}))
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["direction"] == "outbound"
    assert call["joinUrl"]
    assert call["medium"][provider]["outgoing"] == {"to": TO, "from": FROM, "additionalParams": {"x": "1"}}
    assert call["dialStatuses"] == []
    ((dial, msg_id),) = await queued_dials(nats_client, 1)
    assert dial == DialCall(call_id=UUID(call["callId"]), attempt=1)
    assert msg_id == f"{call['callId']}.1"


async def test_an_agent_call_with_an_outgoing_medium_is_queued_with_its_template_filled(
    api: Api, nats_client: Client
) -> None:
    await import_config(api)
    agent_id = await create_agent(api)
    body = {"templateContext": {"user": {"phone_number": TO}}, **outgoing()}
    response = await api.client.post(f"/api/agents/{agent_id}/calls", json=body)
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["direction"] == "outbound"
    assert call["systemPrompt"] == f"Caller is {TO}"
    ((dial, _),) = await queued_dials(nats_client, 1)
    assert str(dial.call_id) == call["callId"]


async def test_additional_params_that_callbridge_sets_itself_are_refused_before_storing(api: Api) -> None:
    await import_config(api)
    response = await api.client.post("/api/calls", json=outgoing(additionalParams={"statusCallback": "x"}))
    assert response.status_code == 422, response.text
    assert "StatusCallback" in response.json()["detail"]
    assert (await api.client.get("/api/calls")).json()["total"] == 0


async def test_a_full_account_answers_429_with_retry_after_and_keeps_the_reserved_slots(api: Api) -> None:
    await import_config(api, maxConcurrentCalls=3, reservedInboundCalls=1)
    first = await api.client.post("/api/calls", json=outgoing())
    second = await api.client.post("/api/calls", json=outgoing())
    refused = await api.client.post("/api/calls", json=outgoing())
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "1"
    assert "2 outbound calls in progress" in refused.json()["detail"]
    assert "1 kept for inbound calls" in refused.json()["detail"]
    assert (await api.client.get("/api/calls")).json()["total"] == 2

    # A call that ends gives its slot back: hanging up one nobody joined ends it at once.
    hung_up = await api.client.post(f"/api/calls/{first.json()['callId']}/hang_up")
    assert hung_up.status_code == 202, hung_up.text
    assert (await api.client.post("/api/calls", json=outgoing())).status_code == 201


async def test_calls_over_the_accounts_calls_per_second_answer_429(api: Api) -> None:
    await import_config(api, maxCallsPerSecond=2)
    answers = await asyncio.gather(*(api.client.post("/api/calls", json=outgoing()) for _ in range(3)))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201, 201, 429], [answer.text for answer in answers]
    (refused,) = [answer for answer in answers if answer.status_code == 429]
    assert refused.headers["Retry-After"] == "1"
    assert "at most 2 calls may start per second" in refused.json()["detail"]


async def test_inbound_calls_hold_lines_that_outbound_calls_then_cannot_use(api: Api) -> None:
    await import_config(api, maxConcurrentCalls=2, requestContextMapping={"From": "user.phone_number"})
    agent_id = await create_agent(api)
    path = f"/api/agents/{agent_id}/telephony_xml"
    form = {
        "CallSid": "CA" + "c" * 32,
        "AccountSid": TWILIO_ACCOUNT_SID,
        "From": "+15551234567",
        "To": "+15557654321",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    inbound = await post_form(api, path, form, twilio_headers(api.public_base_url + path, form))
    assert inbound.status_code == 200, inbound.text
    assert (await api.client.post("/api/calls", json=outgoing())).status_code == 201
    refused = await api.client.post("/api/calls", json=outgoing())
    assert refused.status_code == 429, refused.text
    assert "all 2 of the account's lines are in use" in refused.json()["detail"]


async def test_throttle_refusals_give_the_accounts_slot_back(api: Api) -> None:
    await import_config(api, maxConcurrentCalls=1)
    throttle = {"name": "one", "rules": [{"maxCalls": 1, "windowSeconds": 60}]}
    assert (await api.client.post("/api/call_throttles", json=throttle)).status_code == 201
    plain = await api.client.post(
        "/api/calls", json={"agentBackend": {"echo": {}}}, params={"throttle": "one"}
    )
    assert plain.status_code == 201, plain.text  # uses the throttle's only start
    refused = await api.client.post("/api/calls", json=outgoing(), params={"throttle": "one"})
    assert refused.status_code == 429, refused.text
    assert "call throttle 'one'" in refused.json()["detail"]
    assert (await api.client.post("/api/calls", json=outgoing())).status_code == 201  # the slot is free


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"reservedInboundCalls": 1}, "reservedInboundCalls needs maxConcurrentCalls"),
        ({"maxConcurrentCalls": 2, "reservedInboundCalls": 3}, "may not exceed maxConcurrentCalls"),
        ({"maxConcurrentCalls": 0}, "greater than or equal to 1"),
        ({"maxCallsPerSecond": 0.5}, "greater than or equal to 1"),
    ],
)
async def test_inconsistent_account_limits_are_refused(
    api: Api, limits: dict[str, Any], message: str
) -> None:
    body = {**CONFIGS["twilio"], **limits}
    response = await api.client.post("/api/telephony_configs/twilio", json=body)
    assert response.status_code == 422, response.text
    assert message in json.dumps(response.json()["detail"])


async def test_account_limits_are_shown_changed_and_cleared(api: Api) -> None:
    await import_config(api, maxConcurrentCalls=10, maxCallsPerSecond=5, reservedInboundCalls=2)
    shown = (await api.client.get("/api/telephony_configs/twilio")).json()
    assert (shown["maxConcurrentCalls"], shown["maxCallsPerSecond"], shown["reservedInboundCalls"]) == (
        10,
        5,
        2,
    )
    too_few = await api.client.patch("/api/telephony_configs/twilio", json={"maxConcurrentCalls": 1})
    assert too_few.status_code == 422, too_few.text
    cleared = await api.client.patch(
        "/api/telephony_configs/twilio", json={"reservedInboundCalls": 0, "maxConcurrentCalls": None}
    )
    assert cleared.status_code == 200, cleared.text
    shown = cleared.json()
    assert (shown["maxConcurrentCalls"], shown["maxCallsPerSecond"], shown["reservedInboundCalls"]) == (
        None,
        5,
        0,
    )
