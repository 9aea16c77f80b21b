"""Exotel credentials and the secret that authenticates Exotel's requests.

Exotel signs nothing (reference §4.5, §5.4), so its requests to callbridge are authenticated by
``webhookSecret``: either as the password of HTTP Basic Auth in the configured URL, or as the last path
segment of ``/api/agents/{agentId}/telephony_xml/{webhookSecret}``. ``apiKey``/``apiToken`` (HTTP Basic for
Exotel's REST API) and ``subdomain`` (``api.exotel.com`` Singapore, ``api.in.exotel.com`` Mumbai) are for
placing calls. ``sampleRate`` is asked for with ``?sample-rate=`` when the agent's template does not say.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from callbridge.common.models.medium import E164_PATTERN, Provider
from callbridge.telephony.credentials import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

DEFAULT_SUBDOMAIN = "api.exotel.com"
SUBDOMAIN_PATTERN = r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.exotel\.(com|in)$"
WEBHOOK_SECRET_PATTERN = r"^[A-Za-z0-9_-]{24,128}$"  # noqa: S105  (a pattern, not a password)
"""URL-safe, since it may be a path segment; 24+ characters so it cannot be guessed."""

ExotelSampleRate = Literal[8000, 16000, 24000]


_ACCOUNT_SID = "Your Exotel account SID."
_API_KEY = "Your Exotel API key: with the API token, it places calls and reads their details."
_API_TOKEN = "Your Exotel API token, which goes with the API key. Write-only."  # noqa: S105  (a description, not a secret)
_SUBDOMAIN = "Your Exotel API host: api.exotel.com (Singapore) or api.in.exotel.com (Mumbai)."
_WEBHOOK_AUTH = (
    "A secret of 24 to 128 URL-safe characters you choose: Exotel's requests carry it as the Basic Auth "
    "password or as the last path segment. Write-only."
)
_FLOW_TRANSFER = (
    "The number (E.164) the Connect applet after the Voicebot applet in your Exotel flow dials. Exotel has "
    "no API to transfer a live call; with this set, a cold transfer to this number ends the stream and the "
    "flow connects the caller. Unset: cold transfers are refused."
)
_SAMPLE_RATE = "The rate in Hz incoming calls ask for when the agent's template does not say; unset: 16000."


class ExotelConfigCreate(AgentAccess):
    """Exotel credentials to import, the secret that authenticates Exotel's requests, and the default rate."""

    account_sid: str = Field(min_length=1, max_length=128, description=_ACCOUNT_SID)
    api_key: str = Field(min_length=1, max_length=256, description=_API_KEY)
    api_token: str = Field(min_length=8, max_length=256, description=_API_TOKEN)
    subdomain: str = Field(default=DEFAULT_SUBDOMAIN, pattern=SUBDOMAIN_PATTERN, description=_SUBDOMAIN)
    webhook_secret: str = Field(pattern=WEBHOOK_SECRET_PATTERN, description=_WEBHOOK_AUTH)
    sample_rate: ExotelSampleRate | None = Field(default=None, description=_SAMPLE_RATE)
    flow_transfer_target: str | None = Field(default=None, pattern=E164_PATTERN, description=_FLOW_TRANSFER)


class ExotelConfigUpdate(AgentAccessUpdate):
    """Changes to the Exotel config: each field given replaces the stored one; null clears
    ``sampleRate``."""

    account_sid: str | None = Field(default=None, min_length=1, max_length=128, description=_ACCOUNT_SID)
    api_key: str | None = Field(default=None, min_length=1, max_length=256, description=_API_KEY)
    api_token: str | None = Field(default=None, min_length=8, max_length=256, description=_API_TOKEN)
    subdomain: str | None = Field(default=None, pattern=SUBDOMAIN_PATTERN, description=_SUBDOMAIN)
    webhook_secret: str | None = Field(
        default=None, pattern=WEBHOOK_SECRET_PATTERN, description=_WEBHOOK_AUTH
    )
    sample_rate: ExotelSampleRate | None = Field(default=None, description=_SAMPLE_RATE)
    flow_transfer_target: str | None = Field(default=None, pattern=E164_PATTERN, description=_FLOW_TRANSFER)


class ExotelConfigPublic(AgentAccess):
    """The imported Exotel config, secrets shown only by their first characters."""

    account_sid: str = Field(description=_ACCOUNT_SID)
    api_key: str = Field(description=_API_KEY)
    api_token_prefix: str = Field(description="The API token's first 4 characters.")
    subdomain: str = Field(description=_SUBDOMAIN)
    webhook_secret_prefix: str = Field(description="The webhook secret's first 4 characters.")
    sample_rate: ExotelSampleRate | None = Field(default=None, description=_SAMPLE_RATE)
    flow_transfer_target: str | None = Field(default=None, description=_FLOW_TRANSFER)


class StoredExotelConfig(StoredTelephonyConfig):
    PROVIDER = Provider.EXOTEL
    SECRETS = ("api_token", "webhook_secret")
    CLEARABLE = ("sample_rate", "flow_transfer_target")

    account_sid: str
    api_key: str
    api_token_encrypted: str
    api_token_prefix: str
    subdomain: str = DEFAULT_SUBDOMAIN
    webhook_secret_encrypted: str
    webhook_secret_prefix: str
    sample_rate: ExotelSampleRate | None = None
    flow_transfer_target: str | None = None

    def public(self) -> ExotelConfigPublic:
        return ExotelConfigPublic.model_validate(self._public_fields())
