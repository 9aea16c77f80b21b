"""Twilio credentials (Ultravox §3.2): the account SID and the write-only auth token that signs webhooks."""

from __future__ import annotations

from pydantic import Field

from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony.access import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"


class TwilioConfigCreate(AgentAccess):
    account_sid: str = Field(pattern=ACCOUNT_SID_PATTERN)
    auth_token: str = Field(min_length=8, max_length=256)


class TwilioConfigUpdate(AgentAccessUpdate):
    account_sid: str | None = Field(default=None, pattern=ACCOUNT_SID_PATTERN)
    auth_token: str | None = Field(default=None, min_length=8, max_length=256)


class TwilioConfigPublic(AgentAccess):
    account_sid: str
    auth_token_prefix: str


class StoredTwilioConfig(StoredTelephonyConfig):
    PROVIDER = Provider.TWILIO
    SECRETS = ("auth_token",)

    account_sid: str
    auth_token_encrypted: str
    auth_token_prefix: str

    def public(self) -> TwilioConfigPublic:
        return TwilioConfigPublic.model_validate(self._public_fields())
