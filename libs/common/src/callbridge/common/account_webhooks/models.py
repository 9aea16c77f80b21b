"""An account webhook, as the API takes it and shows it, and as it is stored (secrets sealed)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AnyHttpUrl, Field, field_validator

from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.sealing import Decrypt, Encrypt, secret_prefix

MAX_SECRETS = 5
MAX_RECENT_FAILURES = 10
UNHEALTHY_AFTER_FAILURES = 5
"""Consecutive failed attempts after which a webhook is ``unhealthy`` (one success makes it ``normal``)."""


class WebhookEvent(enum.StrEnum):
    """The call events a webhook can be told of (Ultravox's names; ``call.billed`` does not apply: callbridge
    does not bill calls)."""

    STARTED = "call.started"
    """The call was created."""
    JOINED = "call.joined"
    """The provider's media stream joined it."""
    ENDED = "call.ended"
    """It ended, unjoined calls included."""


EVENT_ORDER = {WebhookEvent.STARTED: 0, WebhookEvent.JOINED: 1, WebhookEvent.ENDED: 2}
"""The order a call's events happen in: a webhook is told of them in that order."""


class WebhookStatus(enum.StrEnum):
    """A webhook's health: ``unhealthy`` after 5 failed attempts in a row, ``normal`` after a success."""

    NORMAL = "normal"
    UNHEALTHY = "unhealthy"


def _http_url(value: AnyHttpUrl) -> AnyHttpUrl:
    if value.scheme not in ("http", "https"):
        raise ValueError("url must be http:// or https://")
    return value


WebhookUrl = Annotated[AnyHttpUrl, AfterValidator(_http_url)]


class WebhookCreate(ApiModel):
    """A webhook (``POST /api/webhooks``, ``PUT``)."""

    url: WebhookUrl = Field(
        description="Where the events are POSTed (http or https, at most 200 characters)."
    )
    events: list[WebhookEvent] = Field(min_length=1, max_length=3, description="The events to send.")
    agent_id: UUID | None = Field(default=None, description="Only the calls of this agent; none: every call.")
    secrets: list[Annotated[str, Field(min_length=8, max_length=120)]] = Field(
        default_factory=list,
        max_length=MAX_SECRETS,
        description="Each signs every request (X-Ultravox-Webhook-Signature, comma-separated): several let a "
        "receiver rotate keys. Write-only: answered as secretPrefixes.",
    )

    @field_validator("url")
    @classmethod
    def _short_url(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(value)) > 200:
            raise ValueError("url is longer than 200 characters")
        return value

    @field_validator("events")
    @classmethod
    def _distinct(cls, value: list[WebhookEvent]) -> list[WebhookEvent]:
        return sorted(set(value), key=EVENT_ORDER.__getitem__)


class WebhookUpdate(ApiModel):
    """Changes to a webhook (``PATCH``): what is given replaces what was there."""

    url: WebhookUrl | None = None
    """Where the events are POSTed."""
    events: list[WebhookEvent] | None = Field(default=None, min_length=1, max_length=3)
    """The events to send."""
    agent_id: UUID | None = None
    """Only this agent's calls; null: every call."""
    secrets: list[Annotated[str, Field(min_length=8, max_length=120)]] | None = Field(
        default=None, max_length=MAX_SECRETS
    )
    """New secrets, replacing the old ones (write-only)."""


class WebhookFailure(ApiModel):
    """One failed delivery attempt."""

    timestamp: datetime = Field(description="When the attempt failed (UTC).")
    failure: str = Field(description="What went wrong: the HTTP status the receiver answered, or the error.")


class WebhookFields(ApiModel):
    webhook_id: UUID
    """The webhook's id."""
    url: str
    """Where the events are POSTed."""
    events: list[WebhookEvent]
    """The events sent."""
    agent_id: UUID | None = None
    """Only this agent's calls; null: every call."""
    created: datetime
    """When it was created (UTC): it gets the events that happen after."""
    status: WebhookStatus = WebhookStatus.NORMAL
    """``unhealthy`` after 5 failed attempts in a row; ``normal`` again after a success."""
    last_status_change: datetime | None = None
    """When ``status`` last changed."""
    recent_failures: list[WebhookFailure] = Field(default_factory=list)
    """The last 10 failed attempts, newest last."""
    consecutive_failures: int = 0
    """Failed attempts since the last success."""


class Webhook(WebhookFields, StoredModel):
    """A webhook as stored: its secrets sealed."""

    sealed_secrets: list[str] = Field(default_factory=list)

    def public(self, decrypt: Decrypt) -> WebhookPublic:
        prefixes = []
        for sealed in self.sealed_secrets:
            try:
                prefixes.append(secret_prefix(decrypt(sealed)))
            except Exception:  # a secret sealed with another key: shown as unreadable, never as a 500
                prefixes.append("")
        return WebhookPublic(**self.model_dump(exclude={"sealed_secrets"}), secret_prefixes=prefixes)

    def secrets(self, decrypt: Decrypt) -> list[str]:
        return [decrypt(sealed) for sealed in self.sealed_secrets]

    @staticmethod
    def seal(secrets: list[str], encrypt: Encrypt) -> list[str]:
        return [encrypt(secret) for secret in secrets]


class WebhookPublic(WebhookFields):
    """A webhook as the API shows it: its secrets as their first characters, its health."""

    secret_prefixes: list[str] = Field(default_factory=list)
    """The first characters of each secret (the secrets themselves are never shown)."""


class WebhookPage(ApiModel):
    """A page of webhooks, newest first."""

    results: list[WebhookPublic]
    """The webhooks on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the previous page; null on the first."""
    total: int
    """How many webhooks there are."""
