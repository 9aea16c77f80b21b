"""Settings of the media service (environment variables ``CALLBRIDGE_*``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from callbridge.common.settings import CommonSettings


class MediaSettings(CommonSettings):
    media_host: str = Field(
        default="127.0.0.1", description="Address to listen on (0.0.0.0: every interface)."
    )
    media_port: int = Field(
        default=8001, description="Port of the join URLs' WebSockets, /healthz and /metrics."
    )
    max_calls: int = Field(
        default=500,
        ge=1,
        description="Calls this replica holds at most; further joins get HTTP 503, so a balancer tries "
        "elsewhere.",
    )
    playout_lead_ms: int = Field(
        default=100,
        ge=20,
        le=1000,
        description="How far ahead of real time agent audio may be sent to the provider.",
    )
    start_timeout_s: float = Field(default=10.0, gt=0, description="Wait for the provider's 'start' message.")
    agent_connect_timeout_s: float = Field(default=10.0, gt=0, description="Wait for the agent's WebSocket.")
    hang_up_drain_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for the agent's last audio to play before hanging up."
    )
    drain_timeout_s: float = Field(
        default=3600.0,
        ge=0,
        description="On SIGTERM, how long calls in progress may continue before they are cut.",
    )
    lost_call_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="A joined call still open this long after its maxDuration was lost with its media "
        "replica (killed) and is ended as connection_error by any replica.",
    )
    telnyx_l16_byte_order: Literal["big", "little"] = Field(
        default="big",
        description="Byte order of Telnyx L16 (undocumented; RFC 3551 says big). The first inbound frames "
        "are checked and a wrong setting is corrected for that call, with a warning.",
    )
    max_message_bytes: int = Field(
        default=256 * 1024, description="Largest provider or agent WebSocket message."
    )
    media_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections to the media port (calls, handshakes in progress, health checks); "
        "one more is answered 503 and closed at once. At least maxCalls.",
    )

    @model_validator(mode="after")
    def _room_for_every_call(self) -> Self:
        if self.media_max_connections < self.max_calls:
            raise ValueError(
                f"CALLBRIDGE_MEDIA_MAX_CONNECTIONS ({self.media_max_connections}) must be at least "
                f"CALLBRIDGE_MAX_CALLS ({self.max_calls})"
            )
        return self
