"""An outbound call's status callbacks at the webhooks service: verified as the provider's, each step
recorded and published once, a call that never connects ended with the provider's reason (its account slot
given back), and Plivo's answer URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from callbridge.common import subjects
from callbridge.common.events import DialStatusChanged, parse_event
from callbridge.devkit.simulators.rest import TwilioRestApi
from tests.webhooks.helpers import MEDIA_PUBLIC_URL, Api, running_webhooks
from tests.webhooks.providers import (
    CONFIGS,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    plivo_headers,
    post_form,
    twilio_headers,
)

TO = "+15550001111"
FROM = "+15550002222"
CALL_SID = "CA" + "d" * 32


async def outbound_call(api: Api, provider: str = "twilio", **limits: Any) -> str:
    body = {**CONFIGS[provider], "callCreationAllowAllAgents": True, **limits}
    assert (await api.client.post(f"/api/telephony_configs/{provider}", json=body)).status_code == 201
    medium = {provider: {"outgoing": {"to": TO, "from": FROM}}}
    response = await api.client.post("/api/calls", json={"medium": medium})
    assert response.status_code == 201, response.text
    call_id: str = response.json()["callId"]
    return call_id


async def twilio_status(api: Api, call_id: str, status: str, **extra: str) -> httpx.Response:
    path = f"/api/calls/{call_id}/provider_status/twilio"
    form = {"CallSid": CALL_SID, "AccountSid": TWILIO_ACCOUNT_SID, "CallStatus": status, **extra}
    return await post_form(api, path, form, twilio_headers(api.public_base_url + path, form))


async def dial_events(nats_client: Client, call_id: str, expected: int) -> list[DialStatusChanged]:
    """The call's ``dial.status`` events; waits for ``expected`` of them, then for any more briefly."""
    js = nats_client.jetstream()
    subscription = await js.subscribe(
        subjects.call_event(call_id, DialStatusChanged.EVENT), deliver_policy=DeliverPolicy.ALL
    )
    found: list[DialStatusChanged] = []
    try:
        while True:
            try:
                message = await subscription.next_msg(timeout=5 if len(found) < expected else 0.5)
            except TimeoutError:
                break  # nothing more within the window: every event published has been read
            event = parse_event(message.subject, message.data)
            assert isinstance(event, DialStatusChanged)
            found.append(event)
    finally:
        await subscription.unsubscribe()
    return found


async def test_each_step_is_recorded_and_published_once_however_often_it_is_reported(
    api: Api, nats_client: Client
) -> None:
    call_id = await outbound_call(api)
    answers = [await twilio_status(api, call_id, status) for status in ("initiated", "ringing", "ringing")]
    assert [answer.status_code for answer in answers] == [200, 200, 200], [a.text for a in answers]
    assert answers[2].json()["ended"] is False
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert [(step["status"], step["providerStatus"]) for step in call["dialStatuses"]] == [
        ("initiated", "initiated"),
        ("ringing", "ringing"),
    ]
    assert call["providerDetails"] is None or call["providerDetails"]["callId"] in (None, CALL_SID)
    events = await dial_events(nats_client, call_id, expected=2)
    assert [event.status for event in events] == ["initiated", "ringing"]


@pytest.mark.parametrize(
    ("status", "end_reason"),
    [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "dial_failed"), ("canceled", "canceled")],
)
async def test_a_call_that_never_connects_ends_with_the_providers_reason_and_frees_its_slot(
    api: Api, status: str, end_reason: str
) -> None:
    call_id = await outbound_call(api, maxConcurrentCalls=1)
    full = await api.client.post(
        "/api/calls", json={"medium": {"twilio": {"outgoing": {"to": TO, "from": FROM}}}}
    )
    assert full.status_code == 429
    answer = await twilio_status(api, call_id, status)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["ended"], answer.json()["endReason"]) == (True, end_reason)
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["endReason"] == end_reason
    assert call["endDetail"].startswith(f"Twilio {status}")
    again = await api.client.post(
        "/api/calls", json={"medium": {"twilio": {"outgoing": {"to": TO, "from": FROM}}}}
    )
    assert again.status_code == 201, again.text


async def test_an_answered_call_that_completes_unjoined_ends_unjoined(api: Api) -> None:
    call_id = await outbound_call(api)
    assert (await twilio_status(api, call_id, "in-progress")).status_code == 200
    answer = await twilio_status(api, call_id, "completed", CallDuration="3")
    assert answer.json()["endReason"] == "unjoined"


async def test_unsigned_forged_or_garbled_callbacks_are_refused_without_a_trace(api: Api) -> None:
    call_id = await outbound_call(api)
    path = f"/api/calls/{call_id}/provider_status/twilio"
    form = {"CallSid": CALL_SID, "AccountSid": TWILIO_ACCOUNT_SID, "CallStatus": "busy"}
    unsigned = await post_form(api, path, form, {})
    forged = await post_form(api, path, form, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    no_status = {"CallSid": CALL_SID, "AccountSid": TWILIO_ACCOUNT_SID}
    garbled = await post_form(api, path, no_status, twilio_headers(api.public_base_url + path, no_status))
    assert (unsigned.status_code, forged.status_code) == (403, 403)
    assert garbled.status_code == 422, garbled.text
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert (call["ended"], call["dialStatuses"]) == (None, [])


async def test_plivos_answer_url_streams_the_answered_call_to_its_join_url(
    api: Api, nats_client: Client
) -> None:
    call_id = await outbound_call(api, "plivo")
    path = f"/api/calls/{call_id}/answer/plivo"
    form = {
        "CallUUID": "e1d2c3b4-0000-4000-8000-000000000001",
        "CallStatus": "in-progress",
        "Event": "StartApp",
    }
    unsigned = await post_form(api, path, form, {})
    assert unsigned.status_code == 403
    answer = await post_form(api, path, form, plivo_headers(api.public_base_url + path, form))
    assert answer.status_code == 200, answer.text
    stream = ET.fromstring(answer.text).find("Stream")  # noqa: S314  (our own service's answer, in a test)
    assert stream is not None
    assert (stream.text or "").strip().startswith(f"{MEDIA_PUBLIC_URL}/calls/{call_id}/")
    assert stream.attrib["statusCallbackUrl"].endswith(f"/api/calls/{call_id}/provider_status/plivo")
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert [step["status"] for step in call["dialStatuses"]] == ["answered"]
    (event,) = await dial_events(nats_client, call_id, expected=1)
    assert event.status == "answered"
    # Another provider has no answer URL; an ended call is not streamed.
    assert (await post_form(api, f"/api/calls/{call_id}/answer/twilio", form, {})).status_code == 404
    assert (await api.client.post(f"/api/calls/{call_id}/hang_up")).json()["ended"] is True
    late = await post_form(api, path, form, plivo_headers(api.public_base_url + path, form, nonce="2"))
    assert late.status_code == 409, late.text


async def test_a_ringing_outbound_call_hung_up_through_the_api_is_canceled(api: Api) -> None:
    call_id = await outbound_call(api)
    assert (await twilio_status(api, call_id, "ringing")).status_code == 200
    hung_up = await api.client.post(f"/api/calls/{call_id}/hang_up")
    assert hung_up.status_code == 202, hung_up.text
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert (call["endReason"], call["endDetail"]) == (
        "canceled",
        "hung up through the API before it was answered",
    )


async def test_a_provider_call_reported_after_its_call_ended_is_hung_up(
    nats_url: str, clean_jetstream: None
) -> None:
    account = TwilioRestApi(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
    ringing = account.add_call(CALL_SID, status="ringing")
    async with account.serve() as api_url, running_webhooks(nats_url, twilio_api_url=api_url) as api:
        call_id = await outbound_call(api)
        # The call ends before callbridge learns its provider call (a dial it never heard back from)...
        assert (await api.client.post(f"/api/calls/{call_id}/hang_up")).json()["ended"] is True
        # ... and then the provider reports it ringing: nobody else would hang it up.
        answer = await twilio_status(api, call_id, "ringing")
        assert answer.status_code == 200, answer.text
        assert answer.json()["endReason"] == "canceled"
        call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert ringing.hung_up_by_api
    assert call["providerDetails"]["callId"] == CALL_SID
