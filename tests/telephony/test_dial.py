"""Every provider's ``dial`` against that provider's simulated account on real HTTP: what the dial asks the
provider for, the result, a 429 with how long to wait, refused credentials, no answer, and the
``additionalParams`` that are merged or refused before any request."""

from __future__ import annotations

import time
import traceback
import uuid
from typing import Any

import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.simulators.rest import CalleeScript, OutboundCall
from callbridge.telephony import (
    DialRequest,
    InvalidDialRequest,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderUnavailable,
    provider_for,
)
from tests.telephony.helpers import (
    SECRET_FIELD,
    SECRETS,
    TELNYX_CONNECTION_ID,
    ProviderApi,
    served_api,
)

TO, FROM = "+15550001111", "+15550002222"
JOIN_URL = "wss://media.example.com/calls/0190d5a2-0000-7000-8000-000000000001/telephony/tok3n"
STATUS_URL = "https://callbridge.example.com/api/calls/0190d5a2-0000-7000-8000-000000000001/provider_status/p"
ANSWER_URL = "https://callbridge.example.com/api/calls/0190d5a2-0000-7000-8000-000000000001/answer/plivo"
BUSY = CalleeScript.parse(["*=busy"])
"""Callees that never answer: these tests look at the dial, not at a stream to a join URL nobody serves."""
RING_TIMEOUT_PARAM = {
    Provider.TWILIO: "Timeout",
    Provider.TELNYX: "timeout_secs",
    Provider.PLIVO: "ring_timeout",
    Provider.EXOTEL: "timeout",  # the simulated Exotel API reads its parameters case-insensitively
}


def dial_request(**changes: Any) -> DialRequest:
    fields: dict[str, Any] = {
        "call_id": uuid.uuid4(),
        "to": TO,
        "from_": FROM,
        "join_url": JOIN_URL,
        "status_callback_url": STATUS_URL,
        "answer_url": ANSWER_URL,
        **changes,
    }
    return DialRequest(**fields)


def placed_call(provider_api: ProviderApi) -> OutboundCall:
    (call,) = provider_api.api.outbound.calls.values()
    return call


@pytest.fixture(params=list(Provider), ids=[provider.value for provider in Provider])
async def busy_api(request: pytest.FixtureRequest) -> Any:
    async with served_api(request.param, BUSY) as served:
        yield served


async def test_a_twilio_dial_streams_the_call_with_inline_twiml_and_asks_for_every_progress_event() -> None:
    async with served_api(Provider.TWILIO, BUSY) as twilio, twilio.client() as client:
        result = await client.dial(dial_request(ring_timeout_s=25))
        call = placed_call(twilio)
    assert (result.provider_call_id, result.provider_request_id) == (call.call_id, None)
    assert str(result.provider_call_id).startswith("CA")
    params = call.params
    assert (params["To"], params["From"], params["Timeout"]) == (TO, FROM, "25")
    assert params["StatusCallback"] == STATUS_URL
    assert params["StatusCallbackMethod"] == "POST"
    assert params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    # The TwiML an incoming call is answered with: the stream, its status callback, then <Hangup/>.
    assert params["Twiml"] == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f'<Stream url="{JOIN_URL}" statusCallback="{STATUS_URL}">'
        f'<Parameter name="callId" value="{dial_call_id(params["Twiml"])}" /></Stream></Connect>'
        "<Hangup /></Response>"
    )


def dial_call_id(twiml: str) -> str:
    return twiml.split('name="callId" value="')[1].split('"')[0]


async def test_a_telnyx_dial_streams_l16_both_ways_and_is_idempotent_by_call_id() -> None:
    async with served_api(Provider.TELNYX, BUSY) as telnyx, telnyx.client() as client:
        request = dial_request()
        result = await client.dial(request)
        again = await client.dial(request)  # a redelivered dial command: the same call, not a second one
        call = placed_call(telnyx)
    assert result == again
    assert result.provider_call_id == call.call_id
    assert call.params == {
        "connection_id": TELNYX_CONNECTION_ID,
        "from": FROM,
        "to": TO,
        "stream_url": JOIN_URL,
        "stream_track": "inbound_track",
        "stream_codec": "L16",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "L16",
        "stream_bidirectional_sampling_rate": 16000,
        "webhook_url": STATUS_URL,
        "webhook_url_method": "POST",
        "command_id": str(request.call_id),
    }
    assert [r.method for r in telnyx.api.requests] == ["POST", "POST"]


async def test_a_telnyx_dial_takes_the_calls_codec_and_refuses_one_telnyx_cannot_stream() -> None:
    async with served_api(Provider.TELNYX, BUSY) as telnyx, telnyx.client() as client:
        await client.dial(dial_request(codec="PCMU"))
        call = placed_call(telnyx)
        with pytest.raises(InvalidDialRequest, match="8000 Hz only"):
            await client.dial(dial_request(codec="PCMA", sample_rate_hz=16000))
    assert (call.params["stream_codec"], call.params["stream_bidirectional_codec"]) == ("PCMU", "PCMU")
    assert call.params["stream_bidirectional_sampling_rate"] == 8000
    assert len(telnyx.api.requests) == 1


async def test_a_telnyx_config_without_its_call_control_application_cannot_dial() -> None:
    async with (
        served_api(Provider.TELNYX, BUSY) as telnyx,
        telnyx.client(config_changes={"applicationSid": None}) as client,
    ):
        with pytest.raises(InvalidDialRequest, match="applicationSid"):
            await client.dial(dial_request())
    assert telnyx.api.requests == []


async def test_a_plivo_dial_gives_callbridges_answer_ring_and_hangup_urls_and_returns_the_request_uuid() -> (
    None
):
    async with served_api(Provider.PLIVO, BUSY) as plivo, plivo.client() as client:
        result = await client.dial(dial_request(ring_timeout_s=30))
        call = placed_call(plivo)
    assert result.provider_call_id is None  # the call's UUID comes later, with its requests
    assert result.provider_request_id == call.request_id
    assert call.params == {
        "from": FROM,
        "to": TO,
        "answer_url": ANSWER_URL,
        "answer_method": "POST",
        "ring_url": STATUS_URL,
        "ring_method": "POST",
        "hangup_url": STATUS_URL,
        "hangup_method": "POST",
        "ring_timeout": 30,
    }


async def test_an_exotel_dial_connects_the_callee_to_the_stream_at_the_calls_rate() -> None:
    async with served_api(Provider.EXOTEL, BUSY) as exotel, exotel.client() as client:
        result = await client.dial(dial_request(sample_rate_hz=8000))
        call = placed_call(exotel)
    assert result.provider_call_id == call.call_id
    params = call.params
    assert (params["from"], params["callerid"]) == (TO, FROM)  # Exotel dials From; CallerId is shown
    assert params["streamtype"] == "bidirectional"
    assert params["streamurl"] == f"{JOIN_URL}?sample-rate=8000"
    assert params["statuscallback"] == STATUS_URL
    assert params["statuscallbackevents"] == ["ringing", "answered", "terminal"]
    (dial,) = exotel.api.requests
    assert dial.path == "/v1/Accounts/exotel-rest-sid/Calls/connect.json"


async def test_the_ring_timeout_is_the_providers_parameter(busy_api: ProviderApi) -> None:
    async with busy_api.client() as client:
        await client.dial(dial_request(ring_timeout_s=17))
    value = placed_call(busy_api).params[RING_TIMEOUT_PARAM[busy_api.provider]]
    assert str(value) == "17"


ADDITIONAL: dict[Provider, tuple[dict[str, Any], dict[str, Any]]] = {
    Provider.TWILIO: (
        {"record": True, "MachineDetection": "Enable"},
        {"Record": "true", "MachineDetection": "Enable"},
    ),
    Provider.TELNYX: ({"time_limit_secs": 120}, {"time_limit_secs": 120}),
    Provider.PLIVO: (
        {"time_limit": 120, "caller_name": "Clinic"},
        {"time_limit": 120, "caller_name": "Clinic"},
    ),
    Provider.EXOTEL: (
        {"Record": True, "CustomField": "order-7"},
        {"record": "true", "customfield": "order-7"},
    ),
}
RESERVED_SPELLINGS = {
    Provider.TWILIO: "statusCallback",
    Provider.TELNYX: "webhookUrl",
    Provider.PLIVO: "answerUrl",
    Provider.EXOTEL: "streamurl",
}


async def test_additional_params_are_merged_into_the_create_call_request(busy_api: ProviderApi) -> None:
    given, expected = ADDITIONAL[busy_api.provider]
    async with busy_api.client() as client:
        await client.dial(dial_request(additional_params=given))
    params = placed_call(busy_api).params
    assert {name: params[name] for name in expected} == expected


async def test_additional_params_may_not_set_what_callbridge_sets_in_any_spelling(
    busy_api: ProviderApi,
) -> None:
    reserved = RESERVED_SPELLINGS[busy_api.provider]
    plugin = provider_for(busy_api.provider)
    with pytest.raises(InvalidDialRequest, match=reserved):
        plugin.check_dial_params({reserved: "https://elsewhere.example.com/"})
    async with busy_api.client() as client:
        with pytest.raises(InvalidDialRequest, match="callbridge sets it"):
            await client.dial(dial_request(additional_params={reserved: "https://elsewhere.example.com/"}))
        ring = RING_TIMEOUT_PARAM[busy_api.provider]
        with pytest.raises(InvalidDialRequest):  # the ring timeout, when the dial gives one
            await client.dial(dial_request(ring_timeout_s=10, additional_params={ring: 99}))
    assert busy_api.api.requests == []


async def test_twilio_refuses_a_parameter_its_calls_api_does_not_have() -> None:
    async with served_api(Provider.TWILIO, BUSY) as twilio, twilio.client() as client:
        with pytest.raises(InvalidDialRequest, match="no such parameter"):
            await client.dial(dial_request(additional_params={"NotATwilioParameter": "x"}))
    assert twilio.api.requests == []


async def test_a_provider_429_is_rate_limited_with_how_long_to_wait(
    provider_api_rate_limited: ProviderApi,
) -> None:
    async with provider_api_rate_limited.client() as client:
        with pytest.raises(ProviderRateLimited) as raised:
            await client.dial(dial_request())
    assert raised.value.status_code == 429
    assert raised.value.retry_after_s == 2.5
    assert raised.value.provider is provider_api_rate_limited.provider
    assert provider_api_rate_limited.api.outbound.calls == {}


@pytest.fixture(params=list(Provider), ids=[provider.value for provider in Provider])
async def provider_api_rate_limited(request: pytest.FixtureRequest) -> Any:
    async with served_api(request.param, CalleeScript.parse([f"{TO}=rate_limited(2.5)", "*=busy"])) as served:
        yield served


async def test_a_dial_with_refused_credentials_is_an_auth_error_that_never_shows_the_secret(
    busy_api: ProviderApi,
) -> None:
    provider = busy_api.provider
    wrong = "wrong-" + SECRETS[provider]
    async with busy_api.client(config_changes={SECRET_FIELD[provider]: wrong}) as client:
        with pytest.raises(ProviderAuthError) as raised:
            await client.dial(dial_request())
    shown = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
    assert wrong not in shown
    assert SECRETS[provider] not in shown
    assert raised.value.status_code == 401
    assert busy_api.api.outbound.calls == {}


async def test_a_dial_the_provider_does_not_answer_is_unavailable_after_the_timeout(
    busy_api: ProviderApi,
) -> None:
    timeout_s = 0.3
    async with busy_api.client(timeout_s=timeout_s) as client:
        with busy_api.api.stalled():
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable, match=r"did not answer within 0\.3 s") as raised:
                await client.dial(dial_request())
            waited_s = time.monotonic() - started
    assert not isinstance(raised.value, ProviderRateLimited)
    assert timeout_s <= waited_s < timeout_s + 5.0
