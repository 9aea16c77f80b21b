"""What the OpenAPI document says about errors: the error bodies, and each status code's meaning, so that
every route lists the errors it can answer with."""

from __future__ import annotations

from typing import Any

from callbridge.common.models.base import ApiModel


class ErrorBody(ApiModel):
    """An error: what is wrong, in words."""

    detail: str
    """What is wrong and, where it helps, what to do instead."""


class FieldError(ApiModel):
    """One invalid field of a request (keys as FastAPI writes them)."""

    loc: list[str | int]
    """Where the field is: ``body``, ``query`` or ``path``, then the field names (and list positions)."""
    msg: str
    """What is wrong with it."""
    type: str
    """The kind of error, such as ``missing`` or ``value_error``."""


class ValidationErrorBody(ApiModel):
    """A request that is well-formed but cannot be accepted: each invalid field, or one reason in words."""

    detail: list[FieldError] | str
    """The invalid fields, or what is wrong in words."""


_MEANINGS = {
    400: "The body is malformed: not JSON, nested more than 64 levels, a lone surrogate, NaN; or a provider "
    "webhook whose provider cannot be told",
    401: "The X-API-Key header is missing",
    403: "The API key is wrong; for a provider webhook, its signature or secret is missing, wrong, stale or "
    "replayed, or the agent may not take the provider's calls",
    404: "No such resource",
    409: "The resource exists already, changed concurrently, cannot be read as stored (delete it), or is in "
    "a state that does not allow this",
    413: "The body is over the request size limit, or what it would store does not fit one NATS message",
    422: "A field is invalid, or asks for something callbridge does not support yet",
    429: "Over a call throttle's or the provider account's limits: try again after the Retry-After header's "
    "seconds",
    503: "The media replica holding the call cannot be reached (NATS or the replica is away): try again",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses`` for these error codes, each with its body model and meaning."""
    return {
        code: {"model": ValidationErrorBody if code == 422 else ErrorBody, "description": _MEANINGS[code]}
        for code in codes
    }


API_KEY_ERRORS = errors(401, 403)
"""Every route that needs the API key."""
BODY_ERRORS = errors(400, 413, 422)
"""Every route that reads a body."""
