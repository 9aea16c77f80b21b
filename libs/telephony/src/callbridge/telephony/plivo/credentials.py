"""Plivo credentials (Ultravox §3.2) and the default audio of Plivo calls.

``authToken`` signs Plivo's webhooks (``X-Plivo-Signature-V3``, reference §5.3) and, with ``authId``,
authenticates REST calls. ``codec``/``sampleRate`` choose the ``<Stream contentType>`` when the agent's
template does not say (default ``audio/x-l16;rate=16000``).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from callbridge.common.models.medium import PlivoCodec, Provider
from callbridge.telephony.credentials import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

AUTH_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

PlivoSampleRate = Literal[8000, 16000]


def check_audio(codec: PlivoCodec | None, sample_rate: int | None) -> None:
    """Plivo streams μ-law only at 8 kHz (reference §3.1 ``contentType``)."""
    if codec is PlivoCodec.PCMU and sample_rate not in (None, 8000):
        raise ValueError("PCMU runs at 8000 Hz only")


_AUTH_ID = "Your Plivo auth id."
_AUTH_TOKEN = "Your Plivo auth token, which verifies Plivo's webhook signatures. Write-only."  # noqa: S105  (a description, not a secret)
_CODEC = "The codec incoming calls ask for when the agent's template does not say; unset: L16."
_SAMPLE_RATE = "The rate in Hz that goes with codec (PCMU: 8000 only); unset: 16000."


class PlivoConfigCreate(AgentAccess):
    """Plivo credentials to import, and the default audio of Plivo calls."""

    auth_id: str = Field(pattern=AUTH_ID_PATTERN, description=_AUTH_ID)
    auth_token: str = Field(min_length=8, max_length=256, description=_AUTH_TOKEN)
    codec: PlivoCodec | None = Field(default=None, description=_CODEC)
    sample_rate: PlivoSampleRate | None = Field(default=None, description=_SAMPLE_RATE)

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self


class PlivoConfigUpdate(AgentAccessUpdate):
    """Changes to the Plivo config: each field given replaces the stored one; null clears ``codec`` or
    ``sampleRate``."""

    auth_id: str | None = Field(default=None, pattern=AUTH_ID_PATTERN, description=_AUTH_ID)
    auth_token: str | None = Field(default=None, min_length=8, max_length=256, description=_AUTH_TOKEN)
    codec: PlivoCodec | None = Field(default=None, description=_CODEC)
    sample_rate: PlivoSampleRate | None = Field(default=None, description=_SAMPLE_RATE)


class PlivoConfigPublic(AgentAccess):
    """The imported Plivo config, the auth token shown only by its first characters."""

    auth_id: str = Field(description=_AUTH_ID)
    auth_token_prefix: str = Field(description="The auth token's first 4 characters.")
    codec: PlivoCodec | None = Field(default=None, description=_CODEC)
    sample_rate: PlivoSampleRate | None = Field(default=None, description=_SAMPLE_RATE)


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
