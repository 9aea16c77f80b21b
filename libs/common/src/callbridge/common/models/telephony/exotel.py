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

from callbridge.common.models.medium import Provider
from callbridge.common.models.telephony.access import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig

DEFAULT_SUBDOMAIN = "api.exotel.com"
SUBDOMAIN_PATTERN = r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.exotel\.(com|in)$"
WEBHOOK_SECRET_PATTERN = r"^[A-Za-z0-9_-]{24,128}$"  # noqa: S105  (a pattern, not a password)
"""URL-safe, since it may be a path segment; 24+ characters so it cannot be guessed."""

ExotelSampleRate = Literal[8000, 16000, 24000]


class ExotelConfigCreate(AgentAccess):
    account_sid: str = Field(min_length=1, max_length=128)
    api_key: str = Field(min_length=1, max_length=256)
    api_token: str = Field(min_length=8, max_length=256)
    subdomain: str = Field(default=DEFAULT_SUBDOMAIN, pattern=SUBDOMAIN_PATTERN)
    webhook_secret: str = Field(pattern=WEBHOOK_SECRET_PATTERN)
    sample_rate: ExotelSampleRate | None = None


class ExotelConfigUpdate(AgentAccessUpdate):
    account_sid: str | None = Field(default=None, min_length=1, max_length=128)
    api_key: str | None = Field(default=None, min_length=1, max_length=256)
    api_token: str | None = Field(default=None, min_length=8, max_length=256)
    subdomain: str | None = Field(default=None, pattern=SUBDOMAIN_PATTERN)
    webhook_secret: str | None = Field(default=None, pattern=WEBHOOK_SECRET_PATTERN)
    sample_rate: ExotelSampleRate | None = None


class ExotelConfigPublic(AgentAccess):
    account_sid: str
    api_key: str
    api_token_prefix: str
    subdomain: str
    webhook_secret_prefix: str
    sample_rate: ExotelSampleRate | None = None


class StoredExotelConfig(StoredTelephonyConfig):
    PROVIDER = Provider.EXOTEL
    SECRETS = ("api_token", "webhook_secret")
    CLEARABLE = ("sample_rate",)

    account_sid: str
    api_key: str
    api_token_encrypted: str
    api_token_prefix: str
    subdomain: str = DEFAULT_SUBDOMAIN
    webhook_secret_encrypted: str
    webhook_secret_prefix: str
    sample_rate: ExotelSampleRate | None = None

    def public(self) -> ExotelConfigPublic:
        return ExotelConfigPublic.model_validate(self._public_fields())
