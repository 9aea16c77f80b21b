"""Telnyx credentials (Ultravox §3.2) and the default audio of Telnyx calls.

``publicKey`` (Mission Control → Keys & Credentials → Public Key) verifies webhook signatures (reference
§5.2); ``apiKey`` authenticates callbridge's Call Control requests, and ``applicationSid`` is the Call Control
application (connection) outbound calls are placed through. ``codec``/``sampleRate`` are what the TeXML
asks for when the agent's template does not say (default L16 at 16 kHz).
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from callbridge.common.models.medium import Provider, TelnyxCodec, TelnyxMedium
from callbridge.telephony.credentials import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

ED25519_PUBLIC_KEY_BYTES = 32

TelnyxSampleRate = Literal[8000, 16000]


def check_public_key(value: str) -> str:
    """A Telnyx public key is the base64 of 32 raw ed25519 bytes (reference §5.2)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("publicKey must be base64 (Mission Control shows it that way)") from None
    if len(raw) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError(f"publicKey must decode to {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(raw)}")
    return value


def check_audio(codec: TelnyxCodec | None, sample_rate: int | None) -> None:
    """The same codec/rate pairs a call's ``medium.telnyx`` accepts."""
    try:
        TelnyxMedium.model_validate({"codec": codec, "sampleRate": sample_rate})
    except ValidationError as exc:
        raise ValueError("; ".join(error["msg"] for error in exc.errors())) from None


_ACCOUNT_SID = "Your Telnyx account id."
_API_KEY = "Your Telnyx API key: it places and hangs up calls through Call Control. Write-only."
_PUBLIC_KEY = (
    "Your Telnyx public key (Mission Control, Keys & Credentials), base64 of 32 bytes: it verifies "
    "Telnyx's webhook signatures. Write-only."
)
_APPLICATION_SID = (
    "The id of your Call Control application (its connection id), through which outbound calls are "
    "placed; needed only for outbound calls."
)
_CODEC = "The codec incoming calls ask for when the agent's template does not say; unset: L16."
_SAMPLE_RATE = "The rate in Hz that goes with codec: 16000 for L16, 8000 for PCMU and PCMA."


class TelnyxConfigCreate(AgentAccess):
    """Telnyx credentials to import, and the default audio of Telnyx calls."""

    account_sid: str = Field(min_length=1, max_length=128, description=_ACCOUNT_SID)
    api_key: str = Field(min_length=8, max_length=256, description=_API_KEY)
    public_key: str = Field(min_length=1, max_length=128, description=_PUBLIC_KEY)
    application_sid: str | None = Field(default=None, max_length=40, description=_APPLICATION_SID)
    codec: TelnyxCodec | None = Field(default=None, description=_CODEC)
    sample_rate: TelnyxSampleRate | None = Field(default=None, description=_SAMPLE_RATE)

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        return check_public_key(value)

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self


class TelnyxConfigUpdate(AgentAccessUpdate):
    """Changes to the Telnyx config: each field given replaces the stored one; null clears
    ``applicationSid``, ``codec`` or ``sampleRate``."""

    account_sid: str | None = Field(default=None, min_length=1, max_length=128, description=_ACCOUNT_SID)
    api_key: str | None = Field(default=None, min_length=8, max_length=256, description=_API_KEY)
    public_key: str | None = Field(default=None, min_length=1, max_length=128, description=_PUBLIC_KEY)
    application_sid: str | None = Field(default=None, max_length=40, description=_APPLICATION_SID)
    codec: TelnyxCodec | None = Field(default=None, description=_CODEC)
    sample_rate: TelnyxSampleRate | None = Field(default=None, description=_SAMPLE_RATE)

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        return None if value is None else check_public_key(value)


class TelnyxConfigPublic(AgentAccess):
    """The imported Telnyx config, secrets shown only by their first characters."""

    account_sid: str = Field(description=_ACCOUNT_SID)
    api_key_prefix: str = Field(description="The API key's first 4 characters.")
    public_key_prefix: str = Field(description="The public key's first 4 characters.")
    application_sid: str | None = Field(default=None, description=_APPLICATION_SID)
    codec: TelnyxCodec | None = Field(default=None, description=_CODEC)
    sample_rate: TelnyxSampleRate | None = Field(default=None, description=_SAMPLE_RATE)


class StoredTelnyxConfig(StoredTelephonyConfig):
    PROVIDER = Provider.TELNYX
    SECRETS = ("api_key", "public_key")
    CLEARABLE = ("application_sid", "codec", "sample_rate")

    account_sid: str
    api_key_encrypted: str
    api_key_prefix: str
    public_key_encrypted: str
    public_key_prefix: str
    application_sid: str | None = None
    codec: TelnyxCodec | None = None
    sample_rate: TelnyxSampleRate | None = None

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self

    def public(self) -> TelnyxConfigPublic:
        return TelnyxConfigPublic.model_validate(self._public_fields())
