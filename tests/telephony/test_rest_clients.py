"""Every provider's REST client against that provider's simulated API on real HTTP, reached through the API
URL setting: hang up (live and already ended), fetch, refused credentials, no answer, no server."""

from __future__ import annotations

import time
import traceback

import pytest

from callbridge.common.models.medium import Provider
from callbridge.devkit.nats_server import free_port
from callbridge.telephony import (
    CallNotFound,
    HangUpResult,
    ProviderAuthError,
    ProviderCallStatus,
    ProviderUnavailable,
    UnsupportedByProvider,
)
from tests.telephony.helpers import CALL_IDS, SECRET_FIELD, SECRETS, ProviderApi, served_api

ENDED_STATUS = {
    Provider.TWILIO: "completed",
    Provider.TELNYX: "ended",
    Provider.PLIVO: "completed",
    Provider.EXOTEL: "completed",
}


async def test_hanging_up_a_live_call_ends_it_at_the_provider(hang_up_api: ProviderApi) -> None:
    call_id = CALL_IDS[hang_up_api.provider]
    call = hang_up_api.api.add_call(call_id)
    async with hang_up_api.client() as client:
        assert await client.hang_up(call_id) is HangUpResult.HUNG_UP
        assert call.hung_up_by_api
        assert call.status == ENDED_STATUS[hang_up_api.provider]
        state = await client.fetch_call(call_id)
    assert state.status is ProviderCallStatus.ENDED
    assert all(request.authorized for request in hang_up_api.api.requests)


async def test_hanging_up_a_call_that_has_ended_is_not_an_error(hang_up_api: ProviderApi) -> None:
    call_id = CALL_IDS[hang_up_api.provider]
    hang_up_api.api.add_call(call_id, status=ENDED_STATUS[hang_up_api.provider])
    async with hang_up_api.client() as client:
        assert await client.hang_up(call_id) is HangUpResult.ALREADY_ENDED
        assert await client.hang_up(call_id) is HangUpResult.ALREADY_ENDED  # idempotent
    assert len(hang_up_api.api.requests) == 2


async def test_a_second_hang_up_finds_the_call_ended(hang_up_api: ProviderApi) -> None:
    call_id = CALL_IDS[hang_up_api.provider]
    hang_up_api.api.add_call(call_id)
    async with hang_up_api.client() as client:
        assert await client.hang_up(call_id) is HangUpResult.HUNG_UP
        assert await client.hang_up(call_id) is HangUpResult.ALREADY_ENDED


async def test_fetch_reports_a_live_call_in_progress(provider_api: ProviderApi) -> None:
    call_id = CALL_IDS[provider_api.provider]
    provider_api.api.add_call(call_id)
    async with provider_api.client() as client:
        state = await client.fetch_call(call_id)
    assert (state.provider_call_id, state.status) == (call_id, ProviderCallStatus.IN_PROGRESS)
    assert not state.status.is_over
    (request,) = provider_api.api.requests
    assert request.method == "GET"
    assert request.authorized


async def test_fetch_reports_an_ended_call_as_over(provider_api: ProviderApi) -> None:
    call_id = CALL_IDS[provider_api.provider]
    provider_api.api.add_call(call_id, status=ENDED_STATUS[provider_api.provider])
    async with provider_api.client() as client:
        state = await client.fetch_call(call_id)
    assert state.status is ProviderCallStatus.ENDED
    assert state.status.is_over


@pytest.mark.parametrize(
    ("provider", "status", "expected"),
    [
        (Provider.TWILIO, "busy", ProviderCallStatus.BUSY),
        (Provider.TWILIO, "no-answer", ProviderCallStatus.NO_ANSWER),
        (Provider.TWILIO, "ringing", ProviderCallStatus.RINGING),
        (Provider.PLIVO, "ringing", ProviderCallStatus.RINGING),
        (Provider.EXOTEL, "failed", ProviderCallStatus.FAILED),
        (Provider.EXOTEL, "queued", ProviderCallStatus.QUEUED),
    ],
)
async def test_fetch_maps_the_providers_statuses(
    provider: Provider, status: str, expected: ProviderCallStatus
) -> None:
    async with served_api(provider) as provider_api:
        provider_api.api.add_call(CALL_IDS[provider], status=status)
        async with provider_api.client() as client:
            state = await client.fetch_call(CALL_IDS[provider])
    assert (state.status, state.provider_status) == (expected, status)


async def test_fetching_an_unknown_call_is_call_not_found(provider_api: ProviderApi) -> None:
    async with provider_api.client() as client:
        with pytest.raises(CallNotFound) as raised:
            await client.fetch_call(CALL_IDS[provider_api.provider])
    assert raised.value.status_code == 404
    assert raised.value.provider is provider_api.provider


async def test_a_call_id_that_could_leave_the_call_resource_is_refused_before_any_request(
    provider_api: ProviderApi,
) -> None:
    async with provider_api.client() as client:
        for bad in ("../../Accounts", "a/b", "", "x" * 300, "CA1?Status=completed"):
            with pytest.raises(CallNotFound):
                await client.fetch_call(bad)
    assert provider_api.api.requests == []


async def test_refused_credentials_are_an_auth_error_that_never_shows_the_secret(
    provider_api: ProviderApi,
) -> None:
    provider = provider_api.provider
    call_id = CALL_IDS[provider]
    provider_api.api.add_call(call_id)
    wrong = "wrong-" + SECRETS[provider]
    async with provider_api.client(config_changes={SECRET_FIELD[provider]: wrong}) as client:
        with pytest.raises(ProviderAuthError) as raised:
            await client.fetch_call(call_id)
    error = raised.value
    assert (error.status_code, error.provider) == (401, provider)
    shown = "".join(traceback.format_exception(error)) + repr(error)
    assert wrong not in shown
    assert SECRETS[provider] not in shown
    assert provider_api.api.calls[call_id].status == provider_api.api.live_status
    assert [request.authorized for request in provider_api.api.requests] == [False]


async def test_a_provider_that_does_not_answer_is_unavailable_after_the_timeout(
    provider_api: ProviderApi,
) -> None:
    call_id = CALL_IDS[provider_api.provider]
    provider_api.api.add_call(call_id)
    timeout_s = 0.3
    async with provider_api.client(timeout_s=timeout_s) as client:
        with provider_api.api.stalled():
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable, match=r"did not answer within 0\.3 s") as raised:
                await client.fetch_call(call_id)
            waited_s = time.monotonic() - started
    assert raised.value.status_code is None
    assert timeout_s <= waited_s < timeout_s + 5.0  # the timeout, not the stalled server, ended the wait


async def test_a_provider_that_cannot_be_reached_is_unavailable(provider_api: ProviderApi) -> None:
    provider_api.base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with provider_api.client() as client:
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            await client.fetch_call(CALL_IDS[provider_api.provider])


async def test_exotel_says_it_cannot_hang_up_without_a_request() -> None:
    async with served_api(Provider.EXOTEL) as exotel:
        exotel.api.add_call(CALL_IDS[Provider.EXOTEL])
        async with exotel.client() as client:
            with pytest.raises(UnsupportedByProvider, match="close its media stream"):
                await client.hang_up(CALL_IDS[Provider.EXOTEL])
        assert exotel.api.requests == []
