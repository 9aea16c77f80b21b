"""Telnyx credentials (Ultravox §3.2) and the default audio of Telnyx calls.

``publicKey`` (Mission Control → Keys & Credentials → Public Key) verifies webhook signatures (reference
§5.2); ``apiKey`` and ``applicationSid`` are for placing calls. ``codec``/``sampleRate`` are what the TeXML
asks for when the agent's template does not say (default L16 at 16 kHz).
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from callbridge.common.models.medium import Provider, TelnyxCodec, TelnyxMedium
from callbridge.common.models.telephony.access import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

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


class TelnyxConfigCreate(AgentAccess):
    account_sid: str = Field(min_length=1, max_length=128)
    api_key: str = Field(min_length=8, max_length=256)
    public_key: str = Field(min_length=1, max_length=128)
    application_sid: str | None = Field(default=None, max_length=40)
    codec: TelnyxCodec | None = None
    sample_rate: TelnyxSampleRate | None = None

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        return check_public_key(value)

    @model_validator(mode="after")
    def _audio(self) -> Self:
        check_audio(self.codec, self.sample_rate)
        return self


class TelnyxConfigUpdate(AgentAccessUpdate):
    account_sid: str | None = Field(default=None, min_length=1, max_length=128)
    api_key: str | None = Field(default=None, min_length=8, max_length=256)
    public_key: str | None = Field(default=None, min_length=1, max_length=128)
    application_sid: str | None = Field(default=None, max_length=40)
    codec: TelnyxCodec | None = None
    sample_rate: TelnyxSampleRate | None = None

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        return None if value is None else check_public_key(value)


class TelnyxConfigPublic(AgentAccess):
    account_sid: str
    api_key_prefix: str
    public_key_prefix: str
    application_sid: str | None = None
    codec: TelnyxCodec | None = None
    sample_rate: TelnyxSampleRate | None = None


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
