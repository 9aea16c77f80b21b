"""Twilio's REST API for a live call (reference §1.4), on the official SDK's asynchronous client.

Hang up: POST ``Status=completed`` to ``/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``; a call that
has ended already answers 404 with code 20404. Fetch: GET the same resource. The SDK's ``api`` domain is
pointed at ``CALLBRIDGE_TWILIO_API_URL``; its own edge/region rewriting (``TWILIO_EDGE``/``TWILIO_REGION``)
is switched off, since a regional host is given as that URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import CallNotFound, ProviderApiError, ProviderUnavailable
from callbridge.telephony.rest.client import (
    HangUpResult,
    ProviderCallState,
    ProviderCallStatus,
    ProviderRestClient,
)
from callbridge.telephony.rest.http import checked_call_id, error_for_status

T = TypeVar("T")

_STATUSES = {
    "queued": ProviderCallStatus.QUEUED,
    "initiated": ProviderCallStatus.QUEUED,
    "ringing": ProviderCallStatus.RINGING,
    "in-progress": ProviderCallStatus.IN_PROGRESS,
    "completed": ProviderCallStatus.ENDED,
    "canceled": ProviderCallStatus.ENDED,
    "busy": ProviderCallStatus.BUSY,
    "no-answer": ProviderCallStatus.NO_ANSWER,
    "failed": ProviderCallStatus.FAILED,
}

# The SDK logs each request's URL and headers at INFO (never the Authorization header): keep it quiet.
_SDK_LOGGER = logging.getLogger("callbridge.telephony.twilio.sdk")
_SDK_LOGGER.setLevel(logging.WARNING)


class TwilioRestClient(ProviderRestClient):
    provider = Provider.TWILIO

    def __init__(self, account_sid: str, auth_token: str, *, api_url: str, timeout_s: float) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_url = api_url.rstrip("/")
        self._timeout_s = timeout_s
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    def _sdk(self) -> Client:
        """The SDK client, made on first use: its aiohttp session belongs to the running event loop."""
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=self._timeout_s, logger=_SDK_LOGGER)
            client = Client(self._account_sid, self._auth_token, self._account_sid, http_client=self._http)
            client.edge = None
            client.region = None
            client.api.base_url = self._api_url
            self._client = client
        return self._client

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        call = self._sdk().calls(checked_call_id(self.provider, provider_call_id))
        try:
            await self._request(call.update_async(status="completed"))
        except CallNotFound:
            return HangUpResult.ALREADY_ENDED
        return HangUpResult.HUNG_UP

    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        call = self._sdk().calls(checked_call_id(self.provider, provider_call_id))
        instance = await self._request(call.fetch_async())
        status = str(instance.status or "")
        known = _STATUSES.get(status)
        if known is None:
            raise ProviderApiError(self.provider, f"Twilio reported call status {status[:40]!r}")
        return ProviderCallState(provider_call_id, known, status)

    async def _request(self, request: Awaitable[T]) -> T:
        """Await one SDK request within the timeout (the SDK's aiohttp session has none of its own, and
        ignores the client's), translating its errors."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await request
        except TimeoutError:
            raise ProviderUnavailable(
                self.provider, f"Twilio did not answer within {self._timeout_s:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderUnavailable(self.provider, f"Twilio could not be reached: {exc}") from None
        except TwilioRestException as exc:
            raise _translated(exc) from None
        except (ValueError, KeyError, TypeError) as exc:  # an answer that is not Twilio's JSON
            raise ProviderApiError(self.provider, f"Twilio's answer could not be read: {exc}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


def _translated(exc: TwilioRestException) -> ProviderApiError:
    """404 (Twilio's code 20404) is ``CallNotFound``: what hanging up a completed call answers."""
    code = None if exc.code is None else str(exc.code)
    return error_for_status(Provider.TWILIO, "Twilio", int(exc.status), code, str(exc.msg)[:200])
