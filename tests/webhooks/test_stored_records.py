"""Records the API cannot read (written by an older or broken version) never break a listing, are named as
unreadable when asked for, and can be deleted; ended calls can be deleted, live ones cannot."""

from __future__ import annotations

from uuid import UUID, uuid4

from nats.aio.client import Client

from callbridge.common import buckets
from callbridge.common.call_records import finish_call
from callbridge.common.models.call import EndReason
from callbridge.common.models.medium import Provider
from callbridge.common.models.provider_calls import ProviderCallLink, provider_call_key
from tests.webhooks.helpers import Api, put_raw, raw_keys
from tests.webhooks.providers import create_agent, import_config, post_form, twilio_headers

UNREADABLE = b'{"callId": "not a uuid", "created": "yesterday"}'


def _nested(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": True}
    for _ in range(levels - 1):
        value = {"next": value}
    return value


async def test_an_unreadable_call_is_left_out_of_listings(api: Api, nats_client: Client) -> None:
    agent_id = await create_agent(api)
    body = {"templateContext": {"user": {"phone_number": "+15550001111"}}}
    good = (await api.client.post(f"/api/agents/{agent_id}/calls", json=body)).json()["callId"]
    await put_raw(nats_client, buckets.CALLS, str(uuid4()), UNREADABLE)
    await put_raw(nats_client, buckets.CALLS, str(uuid4()), b"not json at all")
    for path in ("/api/calls", f"/api/agents/{agent_id}/calls"):
        listing = await api.client.get(path)
        assert listing.status_code == 200, listing.text
        assert [c["callId"] for c in listing.json()["results"]] == [good]
        assert listing.json()["total"] == 1


async def test_an_unreadable_call_is_named_as_such_and_can_be_deleted(api: Api, nats_client: Client) -> None:
    call_id = str(uuid4())
    await put_raw(nats_client, buckets.CALLS, call_id, UNREADABLE)
    response = await api.client.get(f"/api/calls/{call_id}")
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "cannot be read" in detail
    assert f"DELETE /api/calls/{call_id}" in detail
    deleted = await api.client.delete(f"/api/calls/{call_id}")
    assert deleted.status_code == 204, deleted.text
    assert (await api.client.get(f"/api/calls/{call_id}")).status_code == 404
    assert (await api.client.delete(f"/api/calls/{call_id}")).status_code == 404


async def test_deleting_an_unreadable_call_removes_its_provider_call_index(
    api: Api, nats_client: Client
) -> None:
    call_id = str(uuid4())
    record = (
        f'{{"callId": "{call_id}", "created": "garbage", '
        f'"providerDetails": {{"provider": "twilio", "callId": "CA123"}}}}'
    ).encode()
    await put_raw(nats_client, buckets.CALLS, call_id, record)
    link_key = provider_call_key(Provider.TWILIO, "CA123")
    other_key = provider_call_key(Provider.TWILIO, "CA999")
    await put_raw(nats_client, buckets.PROVIDER_CALLS, link_key, ProviderCallLink.model_validate(
        {"callId": call_id}).model_dump_json().encode())  # fmt: skip
    await put_raw(nats_client, buckets.PROVIDER_CALLS, other_key, ProviderCallLink.model_validate(
        {"callId": str(uuid4())}).model_dump_json().encode())  # fmt: skip
    assert (await api.client.delete(f"/api/calls/{call_id}")).status_code == 204
    assert await raw_keys(nats_client, buckets.PROVIDER_CALLS) == {other_key}


async def test_an_ended_call_can_be_deleted_a_live_one_cannot(api: Api, nats_client: Client) -> None:
    call_id = (await api.client.post("/api/calls", json={})).json()["callId"]
    live = await api.client.delete(f"/api/calls/{call_id}")
    assert live.status_code == 409, live.text
    assert "has not ended" in live.json()["detail"]
    assert (await api.client.get(f"/api/calls/{call_id}")).status_code == 200
    stores = api.app.state.services.stores  # as media or a status callback would end it
    await finish_call(stores.calls, stores.call_listing, UUID(call_id), EndReason.HANGUP)
    assert (await api.client.delete(f"/api/calls/{call_id}")).status_code == 204
    assert (await api.client.get(f"/api/calls/{call_id}")).status_code == 404
    assert (await api.client.get("/api/calls")).json()["total"] == 0
    assert (await api.client.delete(f"/api/calls/{uuid4()}")).status_code == 404


async def test_deleting_a_provider_call_removes_its_index_entry(api: Api, nats_client: Client) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "twilio", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    form = {"CallSid": "CA" + "c" * 32, "AccountSid": "AC" + "a" * 32, "From": "+15551234567"}
    answer = await post_form(api, path, form, twilio_headers(api.public_base_url + path, form))
    assert answer.status_code == 200, answer.text
    assert await raw_keys(nats_client, buckets.PROVIDER_CALLS) == {
        provider_call_key(Provider.TWILIO, form["CallSid"])
    }
    call_id = answer.text.split("/calls/")[1].split("/")[0]
    status_path = f"/api/calls/{call_id}/provider_status/twilio"
    status = {"CallSid": form["CallSid"], "AccountSid": form["AccountSid"], "CallStatus": "completed"}
    ended = await post_form(
        api, status_path, status, twilio_headers(api.public_base_url + status_path, status)
    )
    assert ended.status_code == 200, ended.text
    assert (await api.client.delete(f"/api/calls/{call_id}")).status_code == 204
    assert await raw_keys(nats_client, buckets.PROVIDER_CALLS) == set()


async def test_an_unreadable_agent_is_left_out_named_and_deletable(api: Api, nats_client: Client) -> None:
    good = await create_agent(api)
    bad = str(uuid4())
    await put_raw(nats_client, buckets.AGENTS, bad, b'{"agentId": "' + bad.encode() + b'", "name": 5}')
    listing = await api.client.get("/api/agents")
    assert listing.status_code == 200, listing.text
    assert [a["agentId"] for a in listing.json()["results"]] == [good]
    for method, path in (("GET", f"/api/agents/{bad}"), ("POST", f"/api/agents/{bad}/calls")):
        response = await api.client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 409, response.text
        assert f"DELETE /api/agents/{bad}" in response.json()["detail"]
    assert (await api.client.delete(f"/api/agents/{bad}")).status_code == 204
    assert (await api.client.get(f"/api/agents/{bad}")).status_code == 404


async def test_deeply_nested_definitions_are_refused_and_listings_keep_working(api: Api) -> None:
    """The attack: 200 levels are stored, but pydantic cannot read them back, and every listing failed."""
    deep = _nested(200)
    call = await api.client.post("/api/calls", json={"initialState": deep})
    assert 400 <= call.status_code < 500, call.text
    agent = await api.client.post(
        "/api/agents", json={"name": "deep", "callTemplate": {"initialState": deep}}
    )
    assert 400 <= agent.status_code < 500, agent.text
    assert (await api.client.get("/api/calls")).status_code == 200
    assert (await api.client.get("/api/agents")).status_code == 200
