"""Provider status callbacks over real HTTP and NATS: verified, published as ``provider.status``, and ending
the call with the right reason exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from callbridge.common import buckets, subjects
from callbridge.common.events import CallEnded, ProviderStatusReceived, parse_event
from callbridge.common.models.call import MAX_END_DETAIL_CHARS, Call, EndReason
from callbridge.common.store import KvStore
from tests.webhooks.helpers import Api
from tests.webhooks.providers import (
    EXOTEL_SECRET,
    basic_auth,
    create_agent,
    exotel_query,
    get_exotel,
    import_config,
    plivo_form,
    plivo_headers,
    post_form,
    post_form_bytes,
    post_plivo,
    post_telnyx,
    telnyx_form,
    telnyx_headers,
    twilio_headers,
)

TWILIO_CALL_SID = "CA" + "b" * 32


async def _twilio_call(api: Api) -> str:
    agent_id = await create_agent(api)
    await import_config(api, "twilio", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    form = {
        "CallSid": TWILIO_CALL_SID,
        "AccountSid": "AC" + "a" * 32,
        "From": "+15551234567",
        "To": "+15557654321",
    }
    response = await post_form(api, path, form, twilio_headers(api.public_base_url + path, form))
    assert response.status_code == 200, response.text
    return response.text.split("/calls/")[1].split("/")[0]


async def _telnyx_call(api: Api) -> str:
    agent_id = await create_agent(api)
    await import_config(api, "telnyx", agent_id)
    response = await post_telnyx(api, agent_id, telnyx_form())
    assert response.status_code == 200, response.text
    return response.text.split("/calls/")[1].split("/")[0]


async def _plivo_call(api: Api) -> str:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id)
    response = await post_plivo(api, agent_id, plivo_form(), nonce="incoming")
    assert response.status_code == 200, response.text
    return response.text.split("/calls/")[1].split("/")[0]


async def _exotel_call(api: Api) -> str:
    agent_id = await create_agent(api)
    await import_config(api, "exotel", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml/{EXOTEL_SECRET}"
    response = await get_exotel(api, path, exotel_query(), {})
    assert response.status_code == 200, response.text
    return str(response.json()["url"]).split("/calls/")[1].split("/")[0]


async def _calls(nats_client: Client) -> KvStore[Call]:
    return KvStore(await nats_client.jetstream().key_value(buckets.CALLS), Call)


async def _mark_joined(nats_client: Client, call_id: str) -> None:
    calls = await _calls(nats_client)
    await calls.mutate(call_id, lambda call: call.model_copy(update={"joined": datetime.now(UTC)}))


async def _events(nats_client: Client, call_id: str, event: str) -> list[Any]:
    """Every ``event`` of the call published so far."""
    subscription = await nats_client.jetstream().subscribe(
        subjects.call_event(call_id, event), deliver_policy=DeliverPolicy.ALL, ordered_consumer=True
    )
    found = []
    try:
        while True:
            message = await subscription.next_msg(timeout=0.5)
            found.append(parse_event(message.subject, message.data))
    except nats.errors.TimeoutError:
        pass
    finally:
        await subscription.unsubscribe()
    return found


async def _twilio_status(api: Api, call_id: str, **fields: str) -> httpx.Response:
    path = f"/api/calls/{call_id}/provider_status/twilio"
    form = {"AccountSid": "AC" + "a" * 32, "CallSid": TWILIO_CALL_SID, "StreamSid": "MZ" + "1" * 32, **fields}
    return await post_form(api, path, form, twilio_headers(api.public_base_url + path, form))


async def _telnyx_json(api: Api, call_id: str, event_type: str, **payload: str) -> httpx.Response:
    document = {
        "data": {
            "event_type": event_type,
            "id": str(uuid4()),
            "payload": {"call_control_id": "v3:abcDEF-123_xyz", **payload},
            "record_type": "event",
        }
    }
    body = json.dumps(document).encode()
    path = f"/api/calls/{call_id}/provider_status/telnyx"
    async with httpx.AsyncClient(base_url=api.base_url, timeout=10) as telnyx:
        return await telnyx.post(
            path, content=body, headers={"Content-Type": "application/json", **telnyx_headers(body)}
        )


async def _plivo_status(api: Api, path: str, nonce: str, **fields: str) -> httpx.Response:
    form = {"CallUUID": plivo_form()["CallUUID"], **fields}
    return await post_form(api, path, form, plivo_headers(api.public_base_url + path, form, nonce=nonce))


async def test_twilio_stream_error_ends_a_joined_call_as_connection_error(
    api: Api, nats_client: Client
) -> None:
    call_id = await _twilio_call(api)
    await _mark_joined(nats_client, call_id)
    response = await _twilio_status(api, call_id, StreamEvent="stream-error", StreamError="socket closed")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "callId": call_id,
        "status": "stream-error",
        "ended": True,
        "endReason": "connection_error",
    }
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["endReason"] == "connection_error"
    assert call["endDetail"] == "Twilio stream-error: socket closed"
    [status] = await _events(nats_client, call_id, "provider.status")
    assert isinstance(status, ProviderStatusReceived)
    assert (status.provider, status.status, status.detail) == ("twilio", "stream-error", "socket closed")
    assert status.fields["StreamSid"] == "MZ" + "1" * 32
    [ended] = await _events(nats_client, call_id, "ended")
    assert isinstance(ended, CallEnded)
    assert ended.end_reason == "connection_error"
    assert ended.detail == "Twilio stream-error: socket closed"


async def test_the_end_detail_kept_in_the_call_is_bounded(api: Api, nats_client: Client) -> None:
    call_id = await _twilio_call(api)
    await _mark_joined(nats_client, call_id)
    response = await _twilio_status(api, call_id, StreamEvent="stream-error", StreamError="e" * 5000)
    assert response.status_code == 200, response.text
    detail = (await api.client.get(f"/api/calls/{call_id}")).json()["endDetail"]
    assert detail.startswith("Twilio stream-error: eee")
    assert len(detail) == MAX_END_DETAIL_CHARS
    assert detail.endswith("…")


async def test_stream_started_is_published_and_the_call_goes_on(api: Api, nats_client: Client) -> None:
    call_id = await _twilio_call(api)
    response = await _twilio_status(api, call_id, StreamEvent="stream-started")
    assert response.json()["ended"] is False
    assert (await api.client.get(f"/api/calls/{call_id}")).json()["ended"] is None
    assert [e.status for e in await _events(nats_client, call_id, "provider.status")] == ["stream-started"]
    assert await _events(nats_client, call_id, "ended") == []


@pytest.mark.parametrize(
    ("event_type", "payload", "joined", "reason"),
    [
        ("call.hangup", {"hangup_cause": "normal_clearing"}, True, "hangup"),
        ("streaming.failed", {"failure_reason": "connection refused"}, True, "connection_error"),
        ("streaming.stopped", {}, False, "unjoined"),
    ],
)
async def test_telnyx_call_control_webhooks_end_the_call(
    api: Api, nats_client: Client, event_type: str, payload: dict[str, str], joined: bool, reason: str
) -> None:
    call_id = await _telnyx_call(api)
    if joined:
        await _mark_joined(nats_client, call_id)
    response = await _telnyx_json(api, call_id, event_type, **payload)
    assert response.status_code == 200, response.text
    assert response.json()["endReason"] == reason
    [status] = await _events(nats_client, call_id, "provider.status")
    assert (status.status, status.detail) == (event_type, next(iter(payload.values()), None))
    assert status.fields["call_control_id"] == "v3:abcDEF-123_xyz"
    assert [e.end_reason for e in await _events(nats_client, call_id, "ended")] == [reason]


async def test_telnyx_texml_stream_callback_is_form_encoded(api: Api, nats_client: Client) -> None:
    call_id = await _telnyx_call(api)
    await _mark_joined(nats_client, call_id)
    body = b"CallSid=v3%3AabcDEF-123_xyz&StreamEvent=stream-stopped&StreamSid=s1"
    path = f"/api/calls/{call_id}/provider_status/telnyx"
    response = await post_form_bytes(api, path, body, telnyx_headers(body))
    assert response.json()["endReason"] == "hangup"


async def test_plivo_stream_callbacks_and_the_hangup_url_end_the_call(api: Api, nats_client: Client) -> None:
    call_id = await _plivo_call(api)
    await _mark_joined(nats_client, call_id)
    per_call = f"/api/calls/{call_id}/provider_status/plivo"
    started = await _plivo_status(api, per_call, "n1", Event="StartStream")
    assert started.json()["ended"] is False
    dropped = await _plivo_status(api, per_call, "n2", Event="DroppedStream")
    assert dropped.json() == {
        "callId": call_id,
        "status": "DroppedStream",
        "ended": True,
        "endReason": "connection_error",
    }
    hangup = await _plivo_status(
        api, "/api/telephony/plivo/status", "n3", Event="Hangup", CallStatus="completed", HangupCause="NORMAL"
    )
    assert hangup.status_code == 200, hangup.text
    assert hangup.json() == {
        "callId": call_id,
        "status": "Hangup",
        "ended": False,
        "endReason": "connection_error",
    }
    statuses = await _events(nats_client, call_id, "provider.status")
    assert [e.status for e in statuses] == ["StartStream", "DroppedStream", "Hangup"]
    assert len(await _events(nats_client, call_id, "ended")) == 1


@pytest.mark.parametrize("auth", ["path", "basic"])
async def test_exotel_status_finds_the_call_by_call_sid(api: Api, nats_client: Client, auth: str) -> None:
    call_id = await _exotel_call(api)
    await _mark_joined(nats_client, call_id)
    form = {"CallSid": exotel_query()["CallSid"], "Status": "completed", "DateUpdated": "2026-01-01 10:00:00"}
    if auth == "path":
        response = await post_form(api, f"/api/telephony/exotel/status/{EXOTEL_SECRET}", form, {})
    else:
        response = await post_form(api, "/api/telephony/exotel/status", form, basic_auth(EXOTEL_SECRET))
    assert response.status_code == 200, response.text
    assert response.json()["endReason"] == "hangup"
    assert [e.end_reason for e in await _events(nats_client, call_id, "ended")] == ["hangup"]


async def test_status_after_the_call_ended_changes_nothing(api: Api, nats_client: Client) -> None:
    call_id = await _twilio_call(api)
    await _mark_joined(nats_client, call_id)
    calls = await _calls(nats_client)
    ended_at = datetime.now(UTC)
    await calls.mutate(
        call_id, lambda c: c.model_copy(update={"ended": ended_at, "end_reason": EndReason.AGENT_HANGUP})
    )
    before = await calls.get(call_id)
    response = await _twilio_status(api, call_id, StreamEvent="stream-stopped")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "callId": call_id,
        "status": "stream-stopped",
        "ended": False,
        "endReason": "agent_hangup",
    }
    after = await calls.get(call_id)
    assert (after.revision, after.value) == (before.revision, before.value)
    assert await _events(nats_client, call_id, "ended") == []


async def test_bad_signature_is_403_unknown_call_404_and_neither_changes_anything(
    api: Api, nats_client: Client
) -> None:
    call_id = await _twilio_call(api)
    path = f"/api/calls/{call_id}/provider_status/twilio"
    form = {"CallSid": TWILIO_CALL_SID, "StreamEvent": "stream-stopped"}
    forged = await post_form(api, path, form, {"X-Twilio-Signature": "AAAA"})
    assert forged.status_code == 403
    unknown = await _twilio_status(api, str(uuid4()), StreamEvent="stream-stopped")
    assert unknown.status_code == 404
    other_call = await _twilio_status(api, call_id, StreamEvent="stream-stopped", CallSid="CA" + "9" * 32)
    assert other_call.status_code == 403
    wrong_provider = await _plivo_status(
        api, f"/api/calls/{call_id}/provider_status/plivo", "n", Event="StopStream"
    )
    assert wrong_provider.status_code == 403  # no Plivo credentials imported: cannot verify
    assert (await api.client.get(f"/api/calls/{call_id}")).json()["ended"] is None
    assert await _events(nats_client, call_id, "provider.status") == []


async def test_status_for_an_unindexed_provider_call_is_404(api: Api) -> None:
    await _exotel_call(api)
    form = {"CallSid": "not-a-call-we-know", "Status": "completed"}
    response = await post_form(api, f"/api/telephony/exotel/status/{EXOTEL_SECRET}", form, {})
    assert response.status_code == 404
    assert "not-a-call-we-know" in response.json()["detail"]


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo"])
async def test_a_provider_that_signs_its_requests_has_no_status_url_with_a_secret(
    api: Api, nats_client: Client, provider: str
) -> None:
    call_id = await _twilio_call(api)
    await _mark_joined(nats_client, call_id)
    form = {"CallSid": TWILIO_CALL_SID, "CallStatus": "completed"}
    response = await post_form(api, f"/api/telephony/{provider}/status/{EXOTEL_SECRET}", form, {})
    assert response.status_code == 404
    assert "signs its requests" in response.json()["detail"]
    assert (await api.client.get(f"/api/calls/{call_id}")).json()["ended"] is None
