"""Settings of the webhooks service (environment variables ``CALLBRIDGE_*``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from callbridge.common.settings import DEV_API_KEY, CommonSettings, require_real_secret
from callbridge.telephony import TelephonyApiSettings
from callbridge.webhooks.http_server import ConnectionLimits


class WebhooksSettings(CommonSettings, TelephonyApiSettings):
    """The service's settings. The provider REST API settings (``TelephonyApiSettings``) come along so that a
    deployment sets them once, for every service; nothing in this one calls a provider's API yet."""

    api_key: SecretStr = Field(default=SecretStr(DEV_API_KEY), description="X-API-Key for every /api route.")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL providers reach this service at; Twilio signs requests over it.",
    )
    media_public_url: str = Field(
        default="ws://127.0.0.1:8001",
        description="The URL providers reach the media service at; join URLs start with it (wss in prod).",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on (0.0.0.0: every interface).")
    port: int = Field(default=8000, description="Port to listen on.")
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections; one more is answered 503 and closed at once."
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest request body any route accepts; larger ones are refused with 413.",
    )
    webhook_retry_base_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Account webhooks: the first retry of a failed delivery comes this long after it; each "
        "next one twice as long (10 attempts in all).",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="Account webhooks: how long a receiver may take to answer."
    )
    webhook_concurrency: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Account webhooks: deliveries in progress at once per replica.",
    )
    max_batch_request_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest body of a request creating a scheduled batch (up to 100,000 calls).",
    )

    @model_validator(mode="after")
    def _refuse_dev_api_key(self) -> Self:
        if self.is_production:
            require_real_secret("CALLBRIDGE_API_KEY", self.api_key.get_secret_value(), min_length=16)
            if not self.media_public_url.startswith("wss://"):
                raise ValueError(
                    "CALLBRIDGE_MEDIA_PUBLIC_URL must be wss:// in production (Twilio accepts only wss)"
                )
        return self

    @property
    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(
            request_timeout_s=self.request_timeout_s, max_connections=self.max_connections
        )

    @property
    def uses_dev_api_key(self) -> bool:
        return self.api_key.get_secret_value() == DEV_API_KEY
