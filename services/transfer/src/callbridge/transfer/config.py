"""Settings of the transfer service (environment variables ``CALLBRIDGE_*``)."""

from __future__ import annotations

from pydantic import Field

from callbridge.common.settings import CommonSettings
from callbridge.telephony import TelephonyApiSettings


class TransferSettings(CommonSettings, TelephonyApiSettings):
    """The service's settings; the provider REST API settings are the ones every service shares."""

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL providers reach the webhooks service at: a Plivo transfer's <Dial> XML is "
        "served there (the same value as the webhooks service's).",
    )
    media_public_url: str = Field(
        default="ws://127.0.0.1:8001",
        description="The URL providers reach the media service at: a warm transfer's second call streams "
        "there (the same value as the dialer's).",
    )
    transfer_host: str = Field(default="127.0.0.1", description="Address of /livez, /readyz and /metrics.")
    transfer_port: int = Field(default=8003, description="Port of /livez, /readyz and /metrics.")
    max_concurrent_commands: int = Field(
        default=64, ge=1, le=10_000, description="Call-control commands one replica works on at once."
    )
