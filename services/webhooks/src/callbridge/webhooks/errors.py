"""The webhooks service's errors; each maps to one HTTP status at the edge (see main.py)."""

from __future__ import annotations

from callbridge.telephony import (
    InvalidProviderRequest,
    ProviderRequestError,
    RequestNotVerified,
    UnknownProvider,
)


class WebhooksError(Exception):
    """Base of this service's errors."""

    status_code = 400


class NotFoundError(WebhooksError):
    """The resource does not exist."""

    status_code = 404


class AlreadyExistsError(WebhooksError):
    """The resource exists already (use PATCH)."""

    status_code = 409


class StateConflictError(WebhooksError):
    """The resource's state does not allow this (deleting a call that has not ended)."""

    status_code = 409


class UnreadableRecordError(WebhooksError):
    """The stored record exists but cannot be read (written by an older or broken version)."""

    status_code = 409


class InvalidRequestError(WebhooksError):
    """The request is well-formed but cannot be carried out as asked."""

    status_code = 422


class ForbiddenError(WebhooksError):
    """A provider request that failed verification, or an agent the provider may not create calls for."""

    status_code = 403


class TooManyCallsError(WebhooksError):
    """A call over a throttle's or the provider account's limits: try again after ``retry_after_s``."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTooLargeError(WebhooksError):
    """A request body, or what it would store, over a size limit."""

    status_code = 413


class MediaUnavailableError(WebhooksError):
    """The media replica holding a live call cannot be reached, or did not carry a command out."""

    status_code = 503


def status_of_refused_request(exc: ProviderRequestError) -> int:
    """The HTTP status of a provider request callbridge.telephony refused."""
    if isinstance(exc, RequestNotVerified):
        return 403  # signature or secret missing, wrong, stale or replayed; another account
    if isinstance(exc, UnknownProvider):
        return 400  # no provider's credentials, or several
    if isinstance(exc, InvalidProviderRequest):
        return 422  # verified, but a field callbridge needs is missing
    return 400
