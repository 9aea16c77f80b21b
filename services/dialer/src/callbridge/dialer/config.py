"""Settings of the dialer service (environment variables ``CALLBRIDGE_*``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from callbridge.common.settings import CommonSettings
from callbridge.telephony import TelephonyApiSettings


class DialerSettings(CommonSettings, TelephonyApiSettings):
    """The service's settings; the provider REST API settings are the ones every service shares."""

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL providers reach the webhooks service at: status callbacks and Plivo's answer "
        "URL start with it (the same value as the webhooks service's).",
    )
    media_public_url: str = Field(
        default="ws://127.0.0.1:8001",
        description="The URL providers reach the media service at; join URLs start with it (wss in prod).",
    )
    dialer_host: str = Field(default="127.0.0.1", description="Address of /livez, /readyz and /metrics.")
    dialer_port: int = Field(default=8002, description="Port of /livez, /readyz and /metrics.")
    dial_tries: int = Field(
        default=4,
        ge=1,
        le=10,
        description="How often one dial is tried while the provider answers 429 or 5xx (then the call ends "
        "as dial_failed); a dial the provider may have received is never sent again.",
    )
    dial_backoff_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="The first wait before trying a refused dial again, doubled each time (or what the "
        "provider's Retry-After says), never past the call's join deadline.",
    )
    max_concurrent_dials: int = Field(
        default=64, ge=1, le=10_000, description="Dial requests one replica works on at once."
    )
    capacity_sweep_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the account slots of calls that ended without giving them back (a replica "
        "that died) are released.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run the outbound call scheduler (scheduled batches) in this replica."
    )
    scheduler_lease_ttl_s: float = Field(
        default=10.0,
        ge=1.0,
        le=300.0,
        description="How long a replica's claim on a batch chunk lasts without renewal: a dead replica's "
        "calls are taken over after it. Replicas' clocks must agree to well within it.",
    )
    scheduler_tick_s: float = Field(
        default=0.1, gt=0, le=10.0, description="The longest wait between two scheduling passes."
    )
    batch_webhook_tries: int = Field(
        default=5, ge=1, le=10, description="Deliveries of a batch call to its webhookUrl before it is ERROR."
    )

    @model_validator(mode="after")
    def _secure_media_url(self) -> Self:
        if self.is_production and not self.media_public_url.startswith("wss://"):
            raise ValueError(
                "CALLBRIDGE_MEDIA_PUBLIC_URL must be wss:// in production (Twilio accepts only wss)"
            )
        return self
