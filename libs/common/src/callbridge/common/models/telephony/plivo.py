"""Plivo credentials (Ultravox §3.2) and the default audio of Plivo calls.

``authToken`` signs Plivo's webhooks (``X-Plivo-Signature-V3``, reference §5.3) and, with ``authId``,
authenticates REST calls. ``codec``/``sampleRate`` choose the ``<Stream contentType>`` when the agent's
template does not say (default ``audio/x-l16;rate=16000``).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from callbridge.common.models.medium import PlivoCodec, Provider
from callbridge.common.models.telephony.access import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

AUTH_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

PlivoSampleRate = Literal[8000, 16000]


def check_audio(codec: PlivoCodec | None, sample_rate: int | None) -> None:
    """Plivo streams μ-law only at 8 kHz (reference §3.1 ``contentType``)."""
    if codec is PlivoCodec.PCMU and sample_rate not in (None, 8000):
        raise ValueError("PCMU runs at 8000 Hz only")


class PlivoConfigCreate(AgentAccess):
    auth_id: str = Field(pattern=AUTH_ID_PATTERN)
    auth_token: str = Field(min_length=8, max_length=256)
    codec: PlivoCodec | None = None
    sample_rate: PlivoSampleRate | None = None

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self


class PlivoConfigUpdate(AgentAccessUpdate):
    auth_id: str | None = Field(default=None, pattern=AUTH_ID_PATTERN)
    auth_token: str | None = Field(default=None, min_length=8, max_length=256)
    codec: PlivoCodec | None = None
    sample_rate: PlivoSampleRate | None = None


class PlivoConfigPublic(AgentAccess):
    auth_id: str
    auth_token_prefix: str
    codec: PlivoCodec | None = None
    sample_rate: PlivoSampleRate | None = None


class StoredPlivoConfig(StoredTelephonyConfig):
    PROVIDER = Provider.PLIVO
    SECRETS = ("auth_token",)
    CLEARABLE = ("codec", "sample_rate")

    auth_id: str
    auth_token_encrypted: str
    auth_token_prefix: str
    codec: PlivoCodec | None = None
    sample_rate: PlivoSampleRate | None = None

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self

    def public(self) -> PlivoConfigPublic:
        return PlivoConfigPublic.model_validate(self._public_fields())
