"""``callbacks``: a call's own lifecycle callbacks (Ultravox §1.1: ``{joined?, ended?, billed?}``, each
``{url, secrets}``), on a call definition, an agent's call template and an agent call's overrides.

Each is POSTed ``{"event", "call"}`` when its event happens, signed and delivered exactly as account
webhooks are (account_webhooks/delivery.py). The secrets are write-only, like an agent's header values
(backend.py): a request gives them in the clear (``CallbacksCreate``), KV stores them sealed
(``SealedCallbacks``) and the API shows their first characters (``CallbacksPublic``: ``secretPrefixes``).
``billed`` is refused (supported.py): callbridge does not bill calls. How each delivery is going shows on
the call as ``callbackDeliveries``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from callbridge.common.account_webhooks.models import (
    MAX_RECENT_FAILURES,
    MAX_SECRETS,
    WebhookEvent,
    WebhookFailure,
    WebhookUrl,
)
from callbridge.common.models.base import ApiModel
from callbridge.common.models.sealing import Decrypt, Encrypt, secret_prefix

MAX_URL_CHARS = 200

CallbackSecret = Annotated[str, Field(min_length=8, max_length=120)]


class Callback(ApiModel):
    """Where one callback is POSTed, and the secrets that sign it (as a request gives them)."""

    url: WebhookUrl = Field(description="Where the event is POSTed (http or https, at most 200 characters).")
    secrets: list[CallbackSecret] = Field(
        default_factory=list,
        max_length=MAX_SECRETS,
        description="Each signs the request (X-Ultravox-Webhook-Signature, comma-separated), as for account "
        "webhooks. Write-only: answered as secretPrefixes.",
    )

    @field_validator("url")
    @classmethod
    def _short_url(cls, value: WebhookUrl) -> WebhookUrl:
        if len(str(value)) > MAX_URL_CHARS:
            raise ValueError(f"url is longer than {MAX_URL_CHARS} characters")
        return value

    def seal(self, encrypt: Encrypt) -> SealedCallback:
        return SealedCallback(
            url=str(self.url),
            secret_prefixes=[secret_prefix(secret) for secret in self.secrets],
            sealed_secrets=[encrypt(secret) for secret in self.secrets],
        )


class CallbackPublic(ApiModel):
    """A callback as the API shows it: its secrets as their first characters."""

    url: str = Field(description="Where the event is POSTed.")
    secret_prefixes: list[str] = Field(
        default_factory=list,
        description="The first characters of each secret (at most 4, at most half); the secrets themselves "
        "are never shown.",
    )


class SealedCallback(CallbackPublic):
    """A callback as KV stores it: each secret sealed (Fernet, CALLBRIDGE_SECRET_KEY)."""

    sealed_secrets: list[str] = Field(default_factory=list)

    def public(self) -> CallbackPublic:
        return CallbackPublic(url=self.url, secret_prefixes=self.secret_prefixes)

    def secrets(self, decrypt: Decrypt) -> list[str]:
        """The secrets in the clear, for signing (SecretDecryptionError: sealed with another key)."""
        return [decrypt(sealed) for sealed in self.sealed_secrets]


_JOINED = "POSTed when the provider's media stream joins the call."
_ENDED = "POSTed when the call ends, unjoined calls included."


class CallbacksCreate(ApiModel):
    """A call's own callbacks, as a request gives them."""

    joined: Callback | None = Field(default=None, description=_JOINED)
    ended: Callback | None = Field(default=None, description=_ENDED)
    billed: Callback | None = Field(
        default=None, description="Not supported: callbridge does not bill calls; use ``ended``."
    )

    def seal(self, encrypt: Encrypt) -> SealedCallbacks:
        return SealedCallbacks(
            joined=None if self.joined is None else self.joined.seal(encrypt),
            ended=None if self.ended is None else self.ended.seal(encrypt),
        )


class CallbacksPublic(ApiModel):
    """A call's own callbacks as the API answers them (secrets as prefixes)."""

    joined: CallbackPublic | None = Field(default=None, description=_JOINED)
    ended: CallbackPublic | None = Field(default=None, description=_ENDED)


class SealedCallbacks(CallbacksPublic):
    """A call's own callbacks as KV stores them (secrets sealed)."""

    joined: SealedCallback | None = None
    ended: SealedCallback | None = None

    def public(self) -> CallbacksPublic:
        return CallbacksPublic(
            joined=None if self.joined is None else self.joined.public(),
            ended=None if self.ended is None else self.ended.public(),
        )

    def target(self, event: WebhookEvent) -> SealedCallback | None:
        """The callback of ``event`` (``call.joined`` or ``call.ended``), if the call has one."""
        if event is WebhookEvent.JOINED:
            return self.joined
        if event is WebhookEvent.ENDED:
            return self.ended
        return None


class CallbackStatus(enum.StrEnum):
    """How a callback's delivery is going."""

    PENDING = "pending"
    """Not delivered yet: attempts go on (with growing delays) after failures."""
    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    GIVEN_UP = "given_up"
    """Every attempt (10) failed."""


class CallbackDelivery(ApiModel):
    """The delivery of one of the call's callbacks: its status and its failed attempts."""

    status: CallbackStatus = Field(default=CallbackStatus.PENDING, description="How the delivery is going.")
    failed_attempts: int = Field(default=0, description="Attempts that failed so far (at most 10).")
    delivered: datetime | None = Field(default=None, description="When the receiver took it (UTC).")
    recent_failures: list[WebhookFailure] = Field(
        default_factory=list,
        max_length=MAX_RECENT_FAILURES,
        description=f"The last {MAX_RECENT_FAILURES} failed attempts, newest last.",
    )


class CallbackDeliveries(ApiModel):
    """How each of the call's callbacks is being delivered; null until its first attempt."""

    joined: CallbackDelivery | None = Field(default=None, description="The ``joined`` callback.")
    ended: CallbackDelivery | None = Field(default=None, description="The ``ended`` callback.")
