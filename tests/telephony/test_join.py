"""A warm transfer's join through every provider's REST client, against that provider's simulated API on real
HTTP: two live calls connected (a Twilio ``<Conference>``, a Telnyx bridge whose streams are then stopped, a
Plivo transfer of both to ``<Conference>`` XML), a call that has ended refused, Exotel without an API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from callbridge.common.models.medium import Provider
from callbridge.devkit.asgi import serve_asgi
from callbridge.devkit.nats_server import free_port
from callbridge.devkit.simulators.plivo import NONCE_HEADER, SIGNATURE_HEADER, PlivoSimulator
from callbridge.telephony import JoinRequest, ProviderApiError, UnsupportedByProvider
from callbridge.telephony.twilio.rest import conference_twiml
from tests.telephony.helpers import CALL_IDS, ProviderApi, served_api

SECOND_IDS = {
    Provider.TWILIO: "CA" + "2" * 32,
    Provider.TELNYX: "v3:Zr2-Abc_def0123456789",
    Provider.PLIVO: "6b1a6f3e-0000-4000-8000-00000000abce",
    Provider.EXOTEL: "c6cfaf5f5cef3ca0fc937749ef960e25",
}
ROOM = "callbridge-room"


class ConferenceXml:
    """What webhooks serves Plivo for an accepted warm transfer: ``<Conference>`` XML, checking Plivo's
    signature with the account's credentials (set once the account is known)."""

    def __init__(self) -> None:
        self.url = ""
        self.credentials = ("", "")
        self.verified: list[bool] = []

    async def __call__(self, request: Request) -> PlainTextResponse:
        fields = {key: str(value) for key, value in (await request.form()).items()}
        url = str(request.url)
        expected = PlivoSimulator(url, *self.credentials).sign(
            url, fields, request.headers.get(NONCE_HEADER, "")
        )
        self.verified.append(request.headers.get(SIGNATURE_HEADER) == expected)
        return PlainTextResponse(f"<Response><Conference>{ROOM}</Conference></Response>")


@pytest.fixture
async def conference_xml() -> AsyncIterator[ConferenceXml]:
    served = ConferenceXml()

    async def endpoint(request: Request) -> PlainTextResponse:
        return await served(request)

    app = Starlette(routes=[Route("/conference.xml", endpoint, methods=["POST"])])
    async with serve_asgi(app, "127.0.0.1", free_port()) as base_url:
        served.url = f"{base_url}/conference.xml"
        yield served


async def test_two_live_calls_are_joined_and_their_streams_stop(
    hang_up_api: ProviderApi, conference_xml: ConferenceXml
) -> None:
    provider, api = hang_up_api.provider, hang_up_api.api
    first, second = api.add_call(CALL_IDS[provider]), api.add_call(SECOND_IDS[provider])
    if provider is Provider.PLIVO:
        conference_xml.credentials = (api.auth_id, api.auth_token)  # type: ignore[attr-defined]
    url = conference_xml.url
    async with hang_up_api.client() as client:
        assert client.can_join
        await client.join(JoinRequest(first.call_id, second.call_id, ROOM, xml_urls=(url, url)))
    ((room, members),) = api.conferences.items()
    assert sorted(members) == sorted([first.call_id, second.call_id])
    assert room == (f"bridge-{first.call_id}" if provider is Provider.TELNYX else ROOM)
    for call in (first, second):
        assert call.conference == room
        assert call.stream_stopped
        assert call.hung_up.is_set()  # the provider stopped the stream
        assert not call.hung_up_by_api  # the call goes on, joined
    if provider is Provider.PLIVO:
        assert conference_xml.verified == [True, True]


async def test_joining_a_human_whose_call_has_ended_is_refused_before_the_caller_moves(
    hang_up_api: ProviderApi,
) -> None:
    provider, api = hang_up_api.provider, hang_up_api.api
    first = api.add_call(CALL_IDS[provider])
    second = api.add_call(
        SECOND_IDS[provider], status="completed" if provider is not Provider.TELNYX else "ended"
    )
    async with hang_up_api.client() as client:
        with pytest.raises(ProviderApiError):
            await client.join(
                JoinRequest(first.call_id, second.call_id, ROOM, xml_urls=("http://127.0.0.1:9/x",) * 2)
            )
    assert api.conferences == {}


async def test_exotel_cannot_join_two_calls() -> None:
    async with served_api(Provider.EXOTEL) as exotel, exotel.client() as client:
        assert not client.can_join
        with pytest.raises(UnsupportedByProvider, match="connect two live calls"):
            await client.join(JoinRequest(CALL_IDS[Provider.EXOTEL], SECOND_IDS[Provider.EXOTEL], ROOM))
    assert exotel.api.requests == []


def test_the_conference_twiml_starts_on_enter_ends_on_exit_without_a_beep() -> None:
    assert conference_twiml("a<b").endswith(
        '<Response><Dial><Conference beep="false" endConferenceOnExit="true" startConferenceOnEnter="true">'
        "a&lt;b</Conference></Dial></Response>"
    )
