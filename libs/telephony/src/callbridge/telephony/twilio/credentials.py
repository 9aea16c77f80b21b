"""Twilio credentials (Ultravox §3.2): the account SID and the write-only auth token that signs webhooks."""

from __future__ import annotations

from pydantic import Field

from callbridge.common.models.medium import Provider
from callbridge.telephony.credentials import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

ACCOUNT_SID_PATTERN = r"^AC[0-9a-fA-F]{32}$"

_ACCOUNT_SID = "Your Twilio account SID (``AC…``); webhooks from another account are refused."
_AUTH_TOKEN = "Your Twilio auth token, which verifies Twilio's webhook signatures. Write-only."  # noqa: S105  (a description, not a secret)


class TwilioConfigCreate(AgentAccess):
    """Twilio credentials to import."""

    account_sid: str = Field(pattern=ACCOUNT_SID_PATTERN, description=_ACCOUNT_SID)
    auth_token: str = Field(min_length=8, max_length=256, description=_AUTH_TOKEN)


class TwilioConfigUpdate(AgentAccessUpdate):
    """Changes to the Twilio credentials: each field given replaces the stored one."""

    account_sid: str | None = Field(default=None, pattern=ACCOUNT_SID_PATTERN, description=_ACCOUNT_SID)
    auth_token: str | None = Field(default=None, min_length=8, max_length=256, description=_AUTH_TOKEN)


class TwilioConfigPublic(AgentAccess):
    """The imported Twilio credentials, secrets shown only by their first characters."""

    account_sid: str = Field(description=_ACCOUNT_SID)
    auth_token_prefix: str = Field(description="The auth token's first 4 characters.")


class StoredTwilioConfig(StoredTelephonyConfig):
    PROVIDER = Provider.TWILIO
    SECRETS = ("auth_token",)

    account_sid: str
    auth_token_encrypted: str
    auth_token_prefix: str

    def public(self) -> TwilioConfigPublic:
        return TwilioConfigPublic.model_validate(self._public_fields())
