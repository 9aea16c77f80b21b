"""What the provider REST clients share: provider call ids checked before they go into a URL path, errors
classified by HTTP status, and a small httpx client for the APIs reached without an SDK (Plivo, Exotel)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote

import httpx

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import (
    CallNotFound,
    ProviderApiError,
    ProviderAuthError,
    ProviderUnavailable,
)

MAX_CALL_ID_CHARS = 256
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
"""Every provider's call ids fit this (Twilio ``CA…``, Telnyx ``v3:…``, Plivo UUIDs, Exotel hex); anything
else (a ``/``, a ``..``) could steer a request to another path of the API with the account's credentials."""

USER_AGENT = "callbridge/0.1"

ErrorReader = Callable[[httpx.Response], tuple[str | None, str]]
"""A provider's error body -> (its error code, its message)."""


def checked_call_id(provider: Provider, provider_call_id: str) -> str:
    """``provider_call_id`` if it can be a call id; ``CallNotFound`` otherwise, before any request."""
    if len(provider_call_id) > MAX_CALL_ID_CHARS or not _CALL_ID.fullmatch(provider_call_id):
        raise CallNotFound(provider, f"{provider_call_id[:64]!r} is not a {provider.value} call id")
    return provider_call_id


def error_for_status(
    provider: Provider, name: str, status: int, code: str | None, message: str
) -> ProviderApiError:
    """The error a provider's answer means: 401/403 refused credentials, 404 no such call, 429 and 5xx try
    again later, anything else the provider's error as it is."""
    text = (
        f"{name} answered {status}"
        + (f" (code {code})" if code else "")
        + (f": {message}" if message else "")
    )
    kind: type[ProviderApiError] = ProviderApiError
    if status in (401, 403):
        kind = ProviderAuthError
    elif status == 404:
        kind = CallNotFound
    elif status == 429 or status >= 500:
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
        expect: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """``method`` on the path made of ``path_segments``, each percent-quoted."""
        path = "/" + "/".join(quote(segment, safe="") for segment in path_segments) + suffix
        if trailing_slash:
            path += "/"
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.request(method, path, params=params)
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
        raise error_for_status(self._provider, self._name, response.status_code, code, message[:200])

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
