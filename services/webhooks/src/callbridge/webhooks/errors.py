"""The webhooks service's errors; each maps to one HTTP status at the edge (see main.py)."""

from __future__ import annotations


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


class VerificationError(ForbiddenError):
    """A provider request whose signature or secret is missing, wrong, stale or replayed."""


class UnknownProviderError(WebhooksError):
    """A webhook whose provider cannot be told: it carries no provider's credentials, or several."""

    status_code = 400


class TooManyCallsError(WebhooksError):
    """A call over a throttle's or the provider account's limits: try again after ``retry_after_s``."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTooLargeError(WebhooksError):
    """A request body, or what it would store, over a size limit."""

    status_code = 413
