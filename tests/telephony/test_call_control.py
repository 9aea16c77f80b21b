"""Cold transfer and out-of-band DTMF through every provider's REST client, against that provider's simulated
API on real HTTP: what each provider offers, what it refuses, and calls that have ended."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException

from callbridge.common.models.medium import Provider
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.simulators.plivo import NONCE_HEADER, SIGNATURE_HEADER, PlivoSimulator
from callbridge.telephony import (
    CallNotFound,
    ProviderApiError,
    TransferRequest,
    UnsupportedByProvider,
)
from callbridge.telephony.twilio.rest import transfer_twiml
from tests.telephony.helpers import CALL_IDS, ProviderApi, served_api

ENDED_STATUS = {Provider.TWILIO: "completed", Provider.TELNYX: "ended", Provider.PLIVO: "completed"}


class DialXml:
    """What webhooks will serve Plivo for a transfer: ``<Dial>`` XML, checking Plivo's signature."""

    def __init__(self, target: str, auth_id: str, auth_token: str) -> None:
        self.target = target
        self.auth_id, self.auth_token = auth_id, auth_token
        self.requests: list[dict[str, str]] = []
        self.verified: list[bool] = []

    async def __call__(self, request: Request) -> PlainTextResponse:
        fields = {key: str(value) for key, value in (await request.form()).items()}
        self.requests.append(fields)
        url = str(request.url)
        expected = PlivoSimulator(url, self.auth_id, self.auth_token).sign(
            url, fields, request.headers.get(NONCE_HEADER, "")
        )
        self.verified.append(request.headers.get(SIGNATURE_HEADER) == expected)
        noun = "User" if self.target.startswith("sip:") else "Number"
        xml = f"<Response><Dial><{noun}>{self.target}</{noun}></Dial></Response>"
        return PlainTextResponse(xml, media_type="application/xml")


@pytest.fixture
async def dial_xml_url() -> AsyncIterator[tuple[str, list[DialXml]]]:
    """A URL serving ``<Dial>`` XML; append the handler that answers it."""
    handlers: list[DialXml] = []

    async def endpoint(request: Request) -> PlainTextResponse:
        return await handlers[-1](request)

    app = Starlette(routes=[Route("/transfer.xml", endpoint, methods=["POST"])])
    async with serve_asgi(app, "127.0.0.1", free_port()) as base_url:
        yield f"{base_url}/transfer.xml", handlers


@pytest.mark.parametrize("target", ["+15557654321", "sip:desk@pbx.example.com"])
async def test_a_cold_transfer_sends_the_call_to_the_target_and_stops_its_stream(
    hang_up_api: ProviderApi, dial_xml_url: tuple[str, list[DialXml]], target: str
) -> None:
    provider, api = hang_up_api.provider, hang_up_api.api
    call_id = CALL_IDS[provider]
    call = api.add_call(call_id)
    url, handlers = dial_xml_url
    if provider is Provider.PLIVO:
        handlers.append(DialXml(target, api.auth_id, api.auth_token))  # type: ignore[attr-defined]
    headers = {"X-Reason": "sales"} if target.startswith("sip:") and provider is not Provider.PLIVO else {}
    async with hang_up_api.client() as client:
        assert client.can_transfer
        await client.transfer(call_id, TransferRequest(target, extra_headers=headers, xml_url=url))
    assert call.transferred_to == target
    assert call.transfer_headers == headers
    assert call.hung_up.is_set()  # the provider stops the stream
    assert not call.hung_up_by_api  # the call goes on, with the target
    if provider is Provider.PLIVO:
        (handler,) = handlers
        assert handler.verified == [True]
        assert handler.requests[0]["CallUUID"] == call_id


async def test_transferring_a_call_that_has_ended_says_so(hang_up_api: ProviderApi) -> None:
    call_id = CALL_IDS[hang_up_api.provider]
    hang_up_api.api.add_call(call_id, status=ENDED_STATUS[hang_up_api.provider])
    async with hang_up_api.client() as client:
        with pytest.raises(ProviderApiError) as raised:
            await client.transfer(call_id, TransferRequest("+15557654321", xml_url="http://127.0.0.1:9/x"))
    assert isinstance(raised.value, CallNotFound) or raised.value.status_code == 422


async def test_dtmf_out_of_band_where_the_provider_has_an_api(provider_api: ProviderApi) -> None:
    provider, api = provider_api.provider, provider_api.api
    call_id = CALL_IDS[provider]
    call = api.add_call(call_id)
    heard: list[str] = []
    call.key_listeners.append(heard.append)
    async with provider_api.client() as client:
        if provider in (Provider.TELNYX, Provider.PLIVO):
            assert client.can_send_dtmf
            await client.send_dtmf(call_id, "1w2#", tone_ms=50)  # clamped to Telnyx's 100 ms minimum
            await client.send_dtmf(call_id, "*9", tone_ms=250)
            assert call.dtmf_sent == ["1w2#", "*9"]
            assert heard == ["1w2#", "*9"]  # the call's listeners (a phone menu) heard them too
            call.refuse_dtmf = "the call cannot take DTMF now"  # a test's script: the provider refuses
            with pytest.raises(ProviderApiError, match="the call cannot take DTMF now"):
                await client.send_dtmf(call_id, "3")
            assert call.dtmf_sent == ["1w2#", "*9"]
        else:
            assert not client.can_send_dtmf
            with pytest.raises(UnsupportedByProvider, match="in band"):
                await client.send_dtmf(call_id, "1")
            assert call.dtmf_sent == []
            assert api.requests == []  # refused without a request


async def test_exotel_cannot_transfer_through_its_api() -> None:
    async with served_api(Provider.EXOTEL) as exotel, exotel.client() as client:
        assert not client.can_transfer
        with pytest.raises(UnsupportedByProvider, match="transfer"):
            await client.transfer(CALL_IDS[Provider.EXOTEL], TransferRequest("+15557654321"))
    assert exotel.api.requests == []


async def test_the_simulated_apis_refuse_bad_actions() -> None:
    async with served_api(Provider.TELNYX) as telnyx:
        call_id = CALL_IDS[Provider.TELNYX]
        telnyx.api.add_call(call_id)
        async with telnyx.client() as client:
            with pytest.raises(ProviderApiError, match="digits"):
                await client.send_dtmf(call_id, "12x")
            with pytest.raises(ProviderApiError, match="to"):
                await client.transfer(call_id, TransferRequest("5557654321"))
    async with served_api(Provider.TWILIO) as twilio:
        call_id = CALL_IDS[Provider.TWILIO]
        twilio.api.add_call(call_id)
        async with twilio.client() as client:
            sdk_call = client._sdk().calls(call_id)  # type: ignore[attr-defined]
            with pytest.raises(TwilioRestException, match="Twiml is not valid"):
                await sdk_call.update_async(twiml="<Response><Say>hi</Say></Response>")


def test_transfer_twiml_escapes_and_carries_sip_headers() -> None:
    number = transfer_twiml(TransferRequest("+15557654321", caller_id="+15550001111"))
    assert number.endswith(
        '<Response><Dial callerId="+15550001111"><Number>+15557654321</Number></Dial></Response>'
    )
    sip = transfer_twiml(TransferRequest("sip:desk@pbx.example.com", extra_headers={"X-Note": "a&b <c>"}))
    assert "<Sip>sip:desk@pbx.example.com?X-Note=a%26b+%3Cc%3E</Sip>" in sip
