"""`callbridge up` honours the provider API URLs: given as flags or CALLBRIDGE_<PROVIDER>_API_URL, they reach
the stack's services, and a REST client made from those settings talks to the simulated API there."""

from __future__ import annotations

import pytest

from callbridge.common.models.medium import Provider
from callbridge.common.secrets import SecretBox
from callbridge.devkit.cli import build_parser
from callbridge.devkit.simulators.rest import PlivoRestApi
from callbridge.devkit.stack import StackConfig, run_stack
from callbridge.devkit.up import provider_api_urls
from callbridge.telephony import HangUpResult, provider_for
from callbridge.telephony.plivo.credentials import PlivoConfigCreate, StoredPlivoConfig
from tests.e2e.helpers import API_KEY, SECRET_KEY

PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN = "MAUPTEST000000000000", "plivo-token-up-tests"


def test_up_takes_each_api_url_as_a_flag_or_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO", "TELNYX", "PLIVO"):
        monkeypatch.delenv(f"CALLBRIDGE_{name}_API_URL")  # set for every e2e test (conftest.py)
    monkeypatch.setenv("CALLBRIDGE_EXOTEL_API_URL", "http://127.0.0.1:9004")
    args = build_parser().parse_args(["up", "--twilio-api-url", "http://127.0.0.1:9001"])
    assert provider_api_urls(args) == {
        Provider.TWILIO: "http://127.0.0.1:9001",
        Provider.EXOTEL: "http://127.0.0.1:9004",
    }
    assert provider_api_urls(build_parser().parse_args(["up"])) == {Provider.EXOTEL: "http://127.0.0.1:9004"}


async def test_the_stack_reaches_a_simulated_provider_api_at_the_given_url(
    nats_url: str, clean_jetstream: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLBRIDGE_TWILIO_API_URL")  # set for every e2e test (conftest.py): the default here
    simulated = PlivoRestApi(PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN)
    simulated.add_call("call-uuid-1")
    async with simulated.serve() as api_url:
        config = StackConfig(
            nats_url=nats_url,
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            provider_api_urls={Provider.PLIVO: api_url},
        )
        async with run_stack(config) as stack:
            assert stack.provider_apis.plivo_api_url == api_url
            assert stack.provider_apis.twilio_api_url == "https://api.twilio.com"
            box = SecretBox(SECRET_KEY)
            body = PlivoConfigCreate(auth_id=PLIVO_AUTH_ID, auth_token=PLIVO_AUTH_TOKEN)
            stored = StoredPlivoConfig.from_create(body, box.encrypt)
            async with provider_for(Provider.PLIVO).rest_client(
                stored, box.decrypt, stack.provider_apis
            ) as client:
                assert await client.hang_up("call-uuid-1") is HangUpResult.HUNG_UP
    assert simulated.calls["call-uuid-1"].hung_up_by_api
