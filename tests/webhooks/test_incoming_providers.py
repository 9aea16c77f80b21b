"""Telnyx, Plivo and Exotel incoming-call webhooks over real HTTP: verified, answered in each provider's
format, and refused (creating nothing) when forged, stale, missing, replayed or ambiguous."""

from __future__ import annotations

import time
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest

from tests.webhooks.helpers import MEDIA_PUBLIC_URL, Api
from tests.webhooks.providers import (
    EXOTEL_SECRET,
    PLIVO_AUTH_ID,
    TELNYX_ACCOUNT_SID,
    basic_auth,
    call_count,
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


def _xml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314  (our own service's answer, in a test)


async def test_telnyx_webhook_answers_texml_with_an_l16_stream_and_records_the_call(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "telnyx", agent_id)
    response = await post_telnyx(api, agent_id, telnyx_form())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = _xml(response.text)
    assert [child.tag for child in root] == ["Connect", "Hangup"]
    stream = root.find("Connect/Stream")
    assert stream is not None
    join_url = stream.attrib["url"]
    call_id = join_url.split("/")[4]
    assert join_url.startswith(f"{MEDIA_PUBLIC_URL}/calls/{call_id}/telephony/")
    assert stream.attrib == {
        "url": join_url,
        "bidirectionalMode": "rtp",
        "codec": "L16",
        "bidirectionalCodec": "L16",
        "bidirectionalSamplingRate": "16000",
        "statusCallback": f"{api.public_base_url}/api/calls/{call_id}/provider_status/telnyx",
        "statusCallbackMethod": "POST",
    }
    assert [p.attrib for p in stream.findall("Parameter")] == [{"name": "callId", "value": call_id}]
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["joinUrl"] is None  # the join token is in the provider's answer only
    assert call["systemPrompt"] == "Caller is +15551234567"
    assert call["medium"] == {
        "telnyx": {"outgoing": None, "dtmfHandling": None, "codec": "L16", "sampleRate": 16000}
    }
    assert call["providerDetails"]["provider"] == "telnyx"
    assert call["providerDetails"]["callId"] == "v3:abcDEF-123_xyz"
    assert call["providerDetails"]["accountId"] == TELNYX_ACCOUNT_SID
    assert (call["providerDetails"]["from"], call["providerDetails"]["to"]) == (
        "+15551234567",
        "+15557654321",
    )


@pytest.mark.parametrize(
    ("template_medium", "config_audio", "expected"),
    [
        ({"telnyx": {"codec": "PCMU"}}, {}, ("PCMU", "8000")),
        ({}, {"codec": "PCMA"}, ("PCMA", "8000")),
        ({"telnyx": {"codec": "L16"}}, {"codec": "PCMU"}, ("L16", "16000")),
        ({"twilio": {}}, {"sampleRate": 8000}, ("PCMU", "8000")),
    ],
)
async def test_telnyx_codec_comes_from_the_template_then_the_config(
    api: Api, template_medium: dict[str, object], config_audio: dict[str, object], expected: tuple[str, str]
) -> None:
    agent_id = await create_agent(api, {"medium": template_medium} if template_medium else None)
    await import_config(api, "telnyx", agent_id, **config_audio)
    response = await post_telnyx(api, agent_id, telnyx_form())
    assert response.status_code == 200, response.text
    stream = _xml(response.text).find("Connect/Stream")
    assert stream is not None
    codec, rate = expected
    assert (stream.attrib["codec"], stream.attrib["bidirectionalCodec"]) == (codec, codec)
    assert stream.attrib["bidirectionalSamplingRate"] == rate
    call = (await api.client.get(f"/api/calls/{stream.attrib['url'].split('/')[4]}")).json()
    assert call["medium"]["telnyx"]["codec"] == codec
    assert call["medium"]["telnyx"]["sampleRate"] == int(rate)


async def test_telnyx_accepts_the_standard_webhooks_header_pair(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "telnyx", agent_id)
    assert (await post_telnyx(api, agent_id, telnyx_form(), standard=True)).status_code == 200


async def test_telnyx_forged_stale_missing_and_replayed_requests_get_403_and_create_nothing(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "telnyx", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    body = urlencode(telnyx_form()).encode()
    tampered = body.replace(b"%2B15551234567", b"%2B15559999999")
    signed = telnyx_headers(body)
    forged = await post_form_bytes(api, path, tampered, signed)
    stale = await post_telnyx(api, agent_id, telnyx_form(), timestamp=int(time.time()) - 310)
    future = await post_telnyx(api, agent_id, telnyx_form(), timestamp=int(time.time()) + 310)
    missing = await post_form_bytes(api, path, body, {"telnyx-timestamp": signed["telnyx-timestamp"]})
    assert [r.status_code for r in (forged, stale, future, missing)] == [403, 403, 403, 403]
    assert "invalid telnyx-signature-ed25519" in forged.json()["detail"]
    assert "stale" in stale.json()["detail"]
    assert "missing" in missing.json()["detail"]
    assert await call_count(api) == 0
    first = await post_form_bytes(api, path, body, signed)
    replayed = await post_form_bytes(api, path, body, signed)
    assert first.status_code == 200
    assert replayed.status_code == 403
    assert "replayed" in replayed.json()["detail"]
    assert await call_count(api) == 1


async def test_plivo_webhook_answers_a_bidirectional_stream_with_the_join_url_as_text(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id)
    response = await post_plivo(api, agent_id, plivo_form())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = _xml(response.text)
    assert [child.tag for child in root] == ["Stream"]
    stream = root[0]
    join_url = stream.text or ""
    call_id = join_url.split("/")[4]
    assert join_url.startswith(f"{MEDIA_PUBLIC_URL}/calls/{call_id}/telephony/")
    assert stream.attrib == {
        "bidirectional": "true",
        "keepCallAlive": "true",
        "contentType": "audio/x-l16;rate=16000",
        "statusCallbackUrl": f"{api.public_base_url}/api/calls/{call_id}/provider_status/plivo",
        "statusCallbackMethod": "POST",
    }
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["medium"] == {
        "plivo": {"outgoing": None, "dtmfHandling": None, "codec": "L16", "sampleRate": 16000}
    }
    details = call["providerDetails"]
    assert (details["provider"], details["callId"], details["accountId"]) == (
        "plivo",
        "6b1a6f3e-0000-4000-8000-00000000abcd",
        PLIVO_AUTH_ID,
    )
    assert call["templateContext"] == {"user": {"phone_number": "14155550100"}}


async def test_plivo_content_type_follows_the_config_default(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id, codec="PCMU")
    response = await post_plivo(api, agent_id, plivo_form())
    assert _xml(response.text)[0].attrib["contentType"] == "audio/x-mulaw;rate=8000"


async def test_plivo_accepts_any_signature_of_a_list_and_refuses_forged_missing_and_replayed(
    api: Api,
) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    url = api.public_base_url + path
    form = plivo_form()
    good = plivo_headers(url, form, nonce="nonce-1")
    listed = {**good, "X-Plivo-Signature-V3": "bm90LWl0," + good["X-Plivo-Signature-V3"]}
    forged = await post_form(api, path, {**form, "From": "19999999999"}, good)
    wrong_nonce = await post_form(api, path, form, {**good, "X-Plivo-Signature-V3-Nonce": "nonce-2"})
    no_nonce = await post_form(api, path, form, {"X-Plivo-Signature-V3": good["X-Plivo-Signature-V3"]})
    assert [r.status_code for r in (forged, wrong_nonce, no_nonce)] == [403, 403, 403]
    assert await call_count(api) == 0
    assert (await post_form(api, path, form, listed)).status_code == 200
    replayed = await post_form(api, path, form, good)
    assert replayed.status_code == 403
    assert "replayed" in replayed.json()["detail"]
    # Another call (another CallUUID: the same one, not yet streamed, would get the same call back).
    other_call = plivo_form(CallUUID="6b1a6f3e-0000-4000-8000-00000000abce")
    main_account = plivo_headers(url, other_call, nonce="nonce-3")
    ma_only = {
        "X-Plivo-Signature-Ma-V3": main_account["X-Plivo-Signature-V3"],
        "X-Plivo-Signature-V3-Nonce": "nonce-3",
    }
    assert (await post_form(api, path, other_call, ma_only)).status_code == 200
    assert await call_count(api) == 2


@pytest.mark.parametrize("route", ["path", "basic"])
async def test_exotel_dynamic_url_answers_json_with_the_sample_rate(api: Api, route: str) -> None:
    agent_id = await create_agent(api, {"medium": {"exotel": {"sampleRate": 8000}}})
    await import_config(api, "exotel", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    if route == "path":
        response = await get_exotel(api, f"{path}/{EXOTEL_SECRET}", exotel_query(), {})
    else:
        response = await get_exotel(api, path, exotel_query(), basic_auth(EXOTEL_SECRET, user="anyone"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    url = response.json()["url"]
    call_id = url.split("/")[4]
    assert url.startswith(f"{MEDIA_PUBLIC_URL}/calls/{call_id}/telephony/")
    assert url.endswith("?sample-rate=8000")
    call = (await api.client.get(f"/api/calls/{call_id}")).json()
    assert call["medium"] == {"exotel": {"outgoing": None, "dtmfHandling": None, "sampleRate": 8000}}
    assert call["providerDetails"]["callId"] == "b6cf1e2a3c4d5e6f7a8b9c0d1e2f3a4b"
    assert call["providerDetails"]["from"] == "09876543210"
    assert call["templateContext"] == {"user": {"phone_number": "09876543210"}}


async def test_exotel_post_form_defaults_to_16_khz(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "exotel", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml/{EXOTEL_SECRET}"
    response = await post_form(api, path, exotel_query(), {})
    assert response.status_code == 200, response.text
    assert response.json()["url"].endswith("?sample-rate=16000")


async def test_exotel_wrong_or_missing_secret_gets_403_and_creates_nothing(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "exotel", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    wrong_path = await get_exotel(api, f"{path}/{'x' * 32}", exotel_query(), {})
    wrong_basic = await get_exotel(api, path, exotel_query(), basic_auth("y" * 32))
    missing = await get_exotel(api, path, exotel_query(), {})
    assert [r.status_code for r in (wrong_path, wrong_basic, missing)] == [403, 403, 403]
    assert "wrong Exotel webhook secret" in wrong_path.json()["detail"]
    assert EXOTEL_SECRET not in wrong_path.text + wrong_basic.text + missing.text
    assert await call_count(api) == 0


async def test_ambiguous_requests_get_400_naming_what_was_seen(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "twilio", agent_id)
    await import_config(api, "plivo", agent_id)
    path = f"/api/agents/{agent_id}/telephony_xml"
    url = api.public_base_url + path
    form = plivo_form()
    both = await post_form(api, path, form, {**plivo_headers(url, form), **twilio_headers(url, form)})
    neither = await post_form(api, path, form, {})
    assert (both.status_code, neither.status_code) == (400, 400)
    assert "Twilio and Plivo" in both.json()["detail"]
    assert "X-Twilio-Signature" in neither.json()["detail"]
    assert "X-Plivo-Signature-V3" in neither.json()["detail"]
    assert await call_count(api) == 0


async def test_credentials_of_a_provider_that_is_not_imported_get_403(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id)
    response = await post_telnyx(api, agent_id, telnyx_form())
    assert response.status_code == 403
    assert "no Telnyx credentials imported" in response.json()["detail"]
    unsigned = await post_form(api, f"/api/agents/{agent_id}/telephony_xml", plivo_form(), {})
    assert unsigned.status_code == 403
    assert "missing X-Plivo-Signature-V3" in unsigned.json()["detail"]
    assert await call_count(api) == 0


@pytest.mark.parametrize("provider", ["telnyx", "plivo", "exotel"])
async def test_agent_not_on_the_allow_list_is_refused(api: Api, provider: str) -> None:
    allowed = await create_agent(api)
    await import_config(api, provider, allowed)
    other = await create_agent(api)
    if provider == "telnyx":
        response = await post_telnyx(api, other, telnyx_form())
    elif provider == "plivo":
        response = await post_plivo(api, other, plivo_form())
    else:
        path = f"/api/agents/{other}/telephony_xml/{EXOTEL_SECRET}"
        response = await get_exotel(api, path, exotel_query(), {})
    assert response.status_code == 403
    assert "may not receive" in response.json()["detail"]
    assert await call_count(api) == 0


async def test_missing_call_id_is_a_clear_422(api: Api) -> None:
    agent_id = await create_agent(api)
    await import_config(api, "plivo", agent_id)
    form = plivo_form()
    del form["CallUUID"]
    response = await post_plivo(api, agent_id, form)
    assert response.status_code == 422
    assert "CallUUID" in response.json()["detail"]
