"""The provider API URL settings: read from CALLBRIDGE_*, defaulting to the real APIs, refusing what would
leak the credentials."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from callbridge.telephony import TelephonyApiSettings
from callbridge.webhooks.config import WebhooksSettings


def test_each_api_url_defaults_to_the_providers_real_api() -> None:
    settings = TelephonyApiSettings()
    assert settings.twilio_api_url == "https://api.twilio.com"
    assert settings.telnyx_api_url == "https://api.telnyx.com"
    assert settings.plivo_api_url == "https://api.plivo.com"
    assert settings.exotel_base_url("api.in.exotel.com") == "https://api.in.exotel.com"  # the config's region


def test_api_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_TWILIO_API_URL", "http://127.0.0.1:9001")
    monkeypatch.setenv("CALLBRIDGE_TELNYX_API_URL", "http://127.0.0.1:9002")
    monkeypatch.setenv("CALLBRIDGE_PLIVO_API_URL", "http://127.0.0.1:9003")
    monkeypatch.setenv("CALLBRIDGE_EXOTEL_API_URL", "http://127.0.0.1:9004")
    monkeypatch.setenv("CALLBRIDGE_PROVIDER_API_TIMEOUT_S", "2.5")
    settings = WebhooksSettings()  # a service's settings include them
    assert (settings.twilio_api_url, settings.telnyx_api_url, settings.plivo_api_url) == (
        "http://127.0.0.1:9001",
        "http://127.0.0.1:9002",
        "http://127.0.0.1:9003",
    )
    assert settings.exotel_base_url("api.exotel.com") == "http://127.0.0.1:9004"
    assert settings.provider_api_timeout_s == 2.5


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("api.twilio.com", "must be an http"),
        ("ftp://api.twilio.com", "must be an http"),
        ("https://AC1:token@api.twilio.com", "no credentials"),
        ("https://api.twilio.com?x=1", "no credentials, query"),
    ],
)
def test_an_api_url_that_is_not_a_plain_http_url_is_refused(url: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        TelephonyApiSettings(twilio_api_url=url)


def test_production_refuses_an_api_url_without_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBRIDGE_API_KEY", "a-real-api-key-0123456789")
    monkeypatch.setenv("CALLBRIDGE_SECRET_KEY", "a-real-secret-key-0123456789-0123456789")
    monkeypatch.setenv("CALLBRIDGE_MEDIA_PUBLIC_URL", "wss://media.example.com")
    monkeypatch.setenv("CALLBRIDGE_NATS_PRIVATE", "true")
    assert WebhooksSettings().plivo_api_url == "https://api.plivo.com"
    monkeypatch.setenv("CALLBRIDGE_PLIVO_API_URL", "http://plivo-simulator:9000")
    with pytest.raises(ValidationError, match="CALLBRIDGE_PLIVO_API_URL must be https"):
        WebhooksSettings()
