"""The errors of callbridge.telephony: refused provider requests, and failed provider REST calls.

Nothing here knows HTTP status codes of callbridge's own API; the webhooks service maps each refusal to one
(``InvalidProviderRequest`` 422, ``RequestNotVerified`` 403, ``UnknownProvider`` 400). No message ever
carries a secret: a credential is named, never shown.
"""

from __future__ import annotations

from callbridge.common.models.medium import Provider


class TelephonyError(Exception):
    """Base of this package's errors."""


class ProviderRequestError(TelephonyError):
    """A provider's webhook that callbridge refuses; the message says why."""


class InvalidProviderRequest(ProviderRequestError):
    """A verified request that lacks a field callbridge needs, or says something it cannot read."""


class RequestNotVerified(ProviderRequestError):
    """A request whose signature or secret is missing, wrong, stale or replayed, whose provider has no
    imported credentials, or that comes from another account than the imported one."""


class UnknownProvider(ProviderRequestError):
    """A webhook whose provider cannot be told: it carries no provider's credentials, or several."""


class ProviderApiError(TelephonyError):
    """A provider's REST API refused or failed a request.

    ``status_code`` is the HTTP status it answered (None: no answer), ``code`` the provider's own error code
    when it gave one (Twilio ``20404``, Telnyx ``90018``).
    """

    def __init__(
        self, provider: Provider, message: str, *, status_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.code = code


class ProviderUnavailable(ProviderApiError):
    """No answer in time, no connection, or a server error or rate limit (5xx, 429): try again later."""


class ProviderRateLimited(ProviderUnavailable):
    """The provider refused the request as over its rate or concurrency limit (429).

    ``retry_after_s`` is how long it asked to wait (its ``Retry-After``, or Telnyx's ``x-ratelimit-reset``);
    None when it did not say.
    """

    def __init__(
        self,
        provider: Provider,
        message: str,
        *,
        retry_after_s: float | None = None,
        status_code: int | None = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(provider, message, status_code=status_code, code=code)
        self.retry_after_s = retry_after_s


class ProviderAuthError(ProviderApiError):
    """The provider refused the imported credentials (401, 403)."""


class CallNotFound(ProviderApiError):
    """The provider knows no call with that id."""


class CallAlreadyEnded(ProviderApiError):
    """The call is over: what was asked of it cannot be done any more."""


class InvalidDialRequest(TelephonyError):
    """A dial that is not sent: ``additionalParams`` repeat a parameter callbridge sets itself or name one
    the provider's API does not have, or the imported config cannot place calls (a Telnyx config without
    its Call Control application id). Trying again changes nothing."""

    def __init__(self, provider: Provider, message: str) -> None:
        super().__init__(message)
        self.provider = provider


class UnsupportedByProvider(TelephonyError):
    """The provider's API has no way to do this."""

    def __init__(self, provider: Provider, message: str) -> None:
        super().__init__(message)
        self.provider = provider
