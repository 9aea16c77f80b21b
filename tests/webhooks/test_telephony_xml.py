"""The incoming-call webhook for Twilio over real HTTP: verified, mapped, answered with TwiML."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import httpx
from twilio.request_validator import RequestValidator

from tests.webhooks.helpers import MEDIA_PUBLIC_URL, Api

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "twilio-auth-token-for-tests"


def _form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "b" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+15551234567",
        "To": "+15557654321",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def _setup(api: Api, **config: Any) -> str:
    agent = await api.client.post(
        "/api/agents",
        json={
            "name": "inbound",
            "callTemplate": {"systemPrompt": "Caller is {{user.phone_number}}", "agentBackend": {"echo": {}}},
        },
    )
    agent_id: str = agent.json()["agentId"]
    body = {
        "accountSid": ACCOUNT_SID,
        "authToken": AUTH_TOKEN,
        "callCreationAllowedAgentIds": [agent_id],
        "requestContextMapping": {"From": "user.phone_number"},
        **config,
    }
    response = await api.client.post("/api/telephony_configs/twilio", json=body)
    assert response.status_code == 201, response.text
    return agent_id


async def _post(
    api: Api, agent_id: str, form: dict[str, str], *, token: str = AUTH_TOKEN, signature: str | None = None
) -> httpx.Response:
    path = f"/api/agents/{agent_id}/telephony_xml"
    public_url = api.public_base_url + path
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = (
        signature if signature is not None else RequestValidator(token).compute_signature(public_url, form)
    )
    async with httpx.AsyncClient(base_url=api.base_url) as twilio:  # no API key: Twilio has none
        return await twilio.post(path, content=urlencode(form), headers=headers)


async def _call_count(api: Api) -> int:
    return int((await api.client.get("/api/calls")).json()["total"])


async def test_signed_webhook_creates_the_call_and_answers_twiml(api: Api) -> None:
    agent_id = await _setup(api)
    response = await _post(api, agent_id, _form())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)  # noqa: S314  (our own service's answer, in a test)
    assert [child.tag for child in root] == ["Connect", "Hangup"]
    stream = root.find("Connect/Stream")
    assert stream is not None
    join_url = stream.attrib["url"]
    assert join_url.startswith(MEDIA_PUBLIC_URL + "/calls/")
    assert "?" not in join_url
    call_id = join_url.split("/")[4]
    status_callback = f"{api.public_base_url}/api/calls/{call_id}/provider_status/twilio"
    assert stream.attrib["statusCallback"] == status_callback
    parameter = stream.find("Parameter")
    assert parameter is not None
    assert parameter.attrib == {"name": "callId", "value": call_id}
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["agentId"] == agent_id
    assert call["joinUrl"] is None  # the join token is in the provider's answer only
    assert call["systemPrompt"] == "Caller is +15551234567"
    assert call["templateContext"] == {"user": {"phone_number": "+15551234567"}}
    assert call["providerDetails"]["callId"] == "CA" + "b" * 32
    assert call["providerDetails"]["from"] == "+15551234567"
    assert call["medium"] == {"twilio": {"outgoing": None, "dtmfHandling": None}}


async def test_forged_or_missing_signature_gets_403_and_creates_nothing(api: Api) -> None:
    agent_id = await _setup(api)
    forged = await _post(api, agent_id, _form(), token="not-the-token")
    missing = await _post(api, agent_id, _form(), signature="")
    tampered_sig = await _post(api, agent_id, _form())  # valid, to prove the route works at all
    assert forged.status_code == 403
    assert "X-Twilio-Signature" in forged.json()["detail"]
    assert missing.status_code == 403
    assert tampered_sig.status_code == 200
    assert await _call_count(api) == 1


async def test_signature_over_other_parameters_is_refused(api: Api) -> None:
    agent_id = await _setup(api)
    form = _form()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        api.public_base_url + f"/api/agents/{agent_id}/telephony_xml", _form(From="+19999999999")
    )
    response = await _post(api, agent_id, form, signature=signature)
    assert response.status_code == 403
    assert await _call_count(api) == 0


async def test_agent_not_on_the_allow_list_is_refused(api: Api) -> None:
    await _setup(api)
    other = (await api.client.post("/api/agents", json={"name": "other"})).json()["agentId"]
    response = await _post(api, other, _form())
    assert response.status_code == 403
    assert "may not receive" in response.json()["detail"]
    assert await _call_count(api) == 0


async def test_unknown_agent_is_404_and_other_account_is_403(api: Api) -> None:
    agent_id = await _setup(api)
    unknown = await _post(api, "00000000-0000-4000-8000-000000000000", _form())
    assert unknown.status_code == 404
    other_account = await _post(api, agent_id, _form(AccountSid="AC" + "c" * 32))
    assert other_account.status_code == 403
    assert await _call_count(api) == 0


async def test_webhook_without_imported_credentials_is_refused(api: Api) -> None:
    agent = (await api.client.post("/api/agents", json={"name": "x"})).json()["agentId"]
    response = await _post(api, agent, _form())
    assert response.status_code == 403
    assert "no Twilio credentials" in response.json()["detail"]


async def test_malformed_webhook_gets_a_clear_4xx(api: Api) -> None:
    agent_id = await _setup(api)
    async with httpx.AsyncClient(base_url=api.base_url) as twilio:
        response = await twilio.post(f"/api/agents/{agent_id}/telephony_xml", json={"CallSid": "x"})
        not_uuid = await twilio.post("/api/agents/not-a-uuid/telephony_xml", data=_form())
    assert response.status_code == 422
    assert "form-encoded" in response.json()["detail"]
    assert not_uuid.status_code == 422
    no_call_sid = _form()
    del no_call_sid["CallSid"]
    assert (await _post(api, agent_id, no_call_sid)).status_code == 422


async def test_a_retried_webhook_gets_the_same_call_and_join_url(api: Api) -> None:
    agent_id = await _setup(api)
    first = await _post(api, agent_id, _form())
    again = await _post(api, agent_id, _form())  # same CallSid, same signature: Twilio retrying
    assert first.status_code == again.status_code == 200
    first_url = ET.fromstring(first.text).find("Connect/Stream")  # noqa: S314  (our own answer, in a test)
    again_url = ET.fromstring(again.text).find("Connect/Stream")  # noqa: S314
    assert first_url is not None
    assert again_url is not None
    assert first_url.attrib["url"] == again_url.attrib["url"]
    assert await _call_count(api) == 1
    other = await _post(api, agent_id, _form(CallSid="CA" + "d" * 32))
    assert other.status_code == 200
    assert await _call_count(api) == 2
