"""What the provider REST clients share: provider call ids checked before they go into a URL path, errors
classified by HTTP status (a 429 with how long to wait), and a small httpx client for the APIs reached
without an SDK (Plivo, Exotel)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import (
    CallNotFound,
    ProviderApiError,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderUnavailable,
)

MAX_CALL_ID_CHARS = 256
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
"""Every provider's call ids fit this (Twilio ``CA…``, Telnyx ``v3:…``, Plivo UUIDs, Exotel hex); anything
else (a ``/``, a ``..``) could steer a request to another path of the API with the account's credentials."""

USER_AGENT = "callbridge/0.1"
MAX_RETRY_AFTER_S = 3600.0
"""A longer wait asked for is taken as this: a dialer should look again within the hour, whatever it says."""
TELNYX_RATE_LIMIT_RESET = "x-ratelimit-reset"
"""Telnyx's header on a 429: seconds until its rate-limit window resets (it sends no Retry-After)."""

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

ErrorReader = Callable[[httpx.Response], tuple[str | None, str]]
"""A provider's error body -> (its error code, its message)."""


def checked_call_id(provider: Provider, provider_call_id: str) -> str:
    """``provider_call_id`` if it can be a call id; ``CallNotFound`` otherwise, before any request."""
    if len(provider_call_id) > MAX_CALL_ID_CHARS or not _CALL_ID.fullmatch(provider_call_id):
        raise CallNotFound(provider, f"{provider_call_id[:64]!r} is not a {provider.value} call id")
    return provider_call_id


def retry_after_s(headers: Mapping[str, str], now_s: float | None = None) -> float | None:
    """How long a 429 asks to wait: ``Retry-After`` in seconds or as an HTTP date, else Telnyx's
    ``x-ratelimit-reset`` seconds; None when neither is there or readable."""
    lowered = {name.lower(): value for name, value in headers.items()}
    text = (lowered.get("retry-after") or lowered.get(TELNYX_RATE_LIMIT_RESET) or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            at = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = at.timestamp() - (time.time() if now_s is None else now_s)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def error_for_status(
    provider: Provider,
    name: str,
    status: int,
    code: str | None,
    message: str,
    *,
    retry_after: float | None = None,
) -> ProviderApiError:
    """The error a provider's answer means: 401/403 refused credentials, 404 no such call, 429 rate
    limited (``retry_after`` seconds, if it said), 5xx try again later, anything else the provider's error
    as it is."""
    text = (
        f"{name} answered {status}"
        + (f" (code {code})" if code else "")
        + (f": {message}" if message else "")
    )
    if status == 429:
        return ProviderRateLimited(provider, text, retry_after_s=retry_after, status_code=status, code=code)
    kind: type[ProviderApiError] = ProviderApiError
    if status in (401, 403):
        kind = ProviderAuthError
    elif status == 404:
        kind = CallNotFound
    elif status >= 500:
        kind = ProviderUnavailable
    return kind(provider, text, status_code=status, code=code)


class JsonApi:
    """One provider account's JSON REST API over httpx: every request within ``timeout_s`` (connecting
    included), answers other than the expected statuses raised as this package's errors."""

    def __init__(
        self,
        provider: Provider,
        name: str,
        base_url: str,
        *,
        auth: tuple[str, str],
        timeout_s: float,
        read_error: ErrorReader,
    ) -> None:
        self._provider = provider
        self._name = name
        self._timeout_s = timeout_s
        self._read_error = read_error
        # Basic auth as a header, never in the URL: the URL appears in httpx's log lines and errors.
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=auth,
            timeout=timeout_s,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    async def request(
        self,
        method: str,
        path_segments: tuple[str, ...],
        *,
        trailing_slash: bool = False,
        suffix: str = "",
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        form: Sequence[tuple[str, str]] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """``method`` on the path made of ``path_segments``, each percent-quoted, with a JSON body or a form
        (pairs, so a field may repeat)."""
        path = "/" + "/".join(quote(segment, safe="") for segment in path_segments) + suffix
        if trailing_slash:
            path += "/"
        content = None if form is None else urlencode(list(form)).encode()
        headers = None if form is None else {"Content-Type": FORM_CONTENT_TYPE}
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.request(
                    method, path, params=params, json=json, content=content, headers=headers
                )
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderUnavailable(
                self._provider, f"{self._name} did not answer within {self._timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                self._provider, f"{self._name} could not be reached: {type(exc).__name__}"
            ) from None
        if response.status_code in expect:
            return response
        code, message = self._read_error(response)
        raise error_for_status(
            self._provider,
            self._name,
            response.status_code,
            code,
            message[:200],
            retry_after=retry_after_s(response.headers),
        )

    def json_object(self, response: httpx.Response) -> dict[str, object]:
        """The answer's JSON object; ``ProviderApiError`` if it is not one."""
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderApiError(
                self._provider,
                f"{self._name}'s answer is not a JSON object",
                status_code=response.status_code,
            )
        return document

    async def aclose(self) -> None:
        await self._client.aclose()
