"""Where the providers' REST APIs are: each defaults to the real API; tests and ``callbridge up`` may point
them at the devkit's simulated APIs. Services include this model in their settings (``CALLBRIDGE_*``)."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TWILIO_API_URL = "https://api.twilio.com"
TELNYX_API_URL = "https://api.telnyx.com"
PLIVO_API_URL = "https://api.plivo.com"
DEFAULT_TIMEOUT_S = 10.0


def _check_api_url(name: str, url: str, *, production: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL such as https://api.example.com, got {url[:80]!r}")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError(f"{name} takes no credentials, query or fragment: the client adds its own")
    if production and parts.scheme != "https":
        raise ValueError(f"{name} must be https:// in production: the provider's credentials travel with it")


class TelephonyApiSettings(BaseSettings):
    """The provider REST APIs' base URLs (scheme, host, optional port and path prefix) and their timeout."""

    model_config = SettingsConfigDict(env_prefix="CALLBRIDGE_", extra="ignore")

    twilio_api_url: str = Field(
        default=TWILIO_API_URL,
        description="Twilio's REST API; a regional one is https://api.<edge>.<region>.twilio.com.",
    )
    telnyx_api_url: str = Field(default=TELNYX_API_URL, description="Telnyx's REST API (v2 paths below it).")
    plivo_api_url: str = Field(default=PLIVO_API_URL, description="Plivo's REST API (v1 paths below it).")
    exotel_api_url: str | None = Field(
        default=None,
        description="Exotel's REST API; unset: https://<the Exotel config's subdomain> (its region's API).",
    )
    provider_api_timeout_s: float = Field(
        default=DEFAULT_TIMEOUT_S,
        gt=0,
        le=120,
        description="How long one request to a provider's REST API may take, connecting included.",
    )

    @model_validator(mode="after")
    def _check_api_urls(self) -> Self:
        production = bool(getattr(self, "is_production", False))  # CommonSettings, when combined with it
        for name in ("twilio_api_url", "telnyx_api_url", "plivo_api_url", "exotel_api_url"):
            url = getattr(self, name)
            if url is not None:
                _check_api_url(f"CALLBRIDGE_{name.upper()}", url, production=production)
        return self

    def exotel_base_url(self, subdomain: str) -> str:
        """The Exotel API for a config of region ``subdomain`` (``api.in.exotel.com`` is Mumbai's)."""
        return self.exotel_api_url or f"https://{subdomain}"
