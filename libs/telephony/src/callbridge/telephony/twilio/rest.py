"""Twilio's REST API for calls (reference §1.4), on the official SDK's asynchronous client.

Dial: ``calls.create`` (``POST /2010-04-01/Accounts/{AccountSid}/Calls.json``) with the parameters of
dialing.py; ``additionalParams`` become the SDK's arguments whatever their spelling (``statusCallback``,
``StatusCallback``), and a name the Calls API does not have is refused before any request. A 429 is
``ProviderRateLimited`` with its ``Retry-After``, read from the answer by the HTTP client below (the SDK's
exception carries no headers). Hang up: POST ``Status=completed`` to
``/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``; a call that has ended already answers 404 with
code 20404. Fetch: GET the same resource. Transfer: POST ``Twiml=<Response><Dial>…</Dial></Response>``
to the same resource (reference §1.4), which replaces the running ``<Connect><Stream>``: Twilio sends the
stream's ``stop`` and dials the target (``<Number>``, or ``<Sip>`` with the extra headers as the URI's query,
as Twilio takes SIP headers). Twilio has no API for DTMF on a live call: ``send_dtmf`` is unsupported, and
the keys go in band. The SDK's ``api`` domain is pointed at
``CALLBRIDGE_TWILIO_API_URL``; its own edge/region rewriting (``TWILIO_EDGE``/``TWILIO_REGION``) is switched
off, since a regional host is given as that URL.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.call import CallList
from twilio.twiml.voice_response import Dial, VoiceResponse

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import (
    CallNotFound,
    InvalidDialRequest,
    ProviderApiError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from callbridge.telephony.rest.client import (
    DialRequest,
    DialResult,
    HangUpResult,
    JoinRequest,
    ProviderCallState,
    ProviderCallStatus,
    ProviderRestClient,
    TransferRequest,
)
from callbridge.telephony.rest.http import checked_call_id, error_for_status, retry_after_s
from callbridge.telephony.rest.params import param_key
from callbridge.telephony.twilio.dialing import dial_params

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

_CREATE_ARGUMENTS = {
    param_key(name): name for name in inspect.signature(CallList.create_async).parameters if name != "self"
}
"""The SDK's ``calls.create`` arguments by spelling-free name (``from_`` is ``from``): every Calls API
parameter this SDK version knows."""


class _RateLimited(Exception):
    """A 429 from Twilio, raised by the HTTP client before the SDK reads it, with what it said."""

    def __init__(self, retry_after: float | None, code: str | None, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.code = code
        self.message = message


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the twilio SDK ships no type hints
    """The SDK's aiohttp client, which raises a 429 as ``_RateLimited`` with its ``Retry-After``: the
    SDK's own exception keeps the status and body but drops the headers."""

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        response = await super().request(*args, **kwargs)
        if response.status_code == 429:
            code, message = _error_body(response.text)
            raise _RateLimited(retry_after_s(response.headers or {}), code, message)
        return response


class TwilioRestClient(ProviderRestClient):
    provider = Provider.TWILIO
    can_transfer = True
    can_join = True

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
            self._http = _HttpClient(timeout=self._timeout_s, logger=_SDK_LOGGER)
            client = Client(self._account_sid, self._auth_token, self._account_sid, http_client=self._http)
            client.edge = None
            client.region = None
            client.api.base_url = self._api_url
            self._client = client
        return self._client

    async def dial(self, request: DialRequest) -> DialResult:
        arguments = _sdk_arguments(dial_params(request), request.additional_params)
        instance = await self._request(self._sdk().calls.create_async(**arguments))
        sid = instance.sid
        if not isinstance(sid, str) or not sid:
            raise ProviderApiError(self.provider, "Twilio's answer to the dial has no call sid")
        return DialResult(provider_call_id=sid)

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        call = self._sdk().calls(checked_call_id(self.provider, provider_call_id))
        try:
            await self._request(call.update_async(status="completed"))
        except CallNotFound:
            return HangUpResult.ALREADY_ENDED
        return HangUpResult.HUNG_UP

    async def transfer(self, provider_call_id: str, request: TransferRequest) -> None:
        call = self._sdk().calls(checked_call_id(self.provider, provider_call_id))
        await self._request(call.update_async(twiml=transfer_twiml(request)))

    async def join(self, request: JoinRequest) -> None:
        """Both calls updated into one ``<Conference>``: each call's new TwiML replaces its stream."""
        twiml = conference_twiml(request.room)
        for call_id in (request.second_call_id, request.first_call_id):
            call = self._sdk().calls(checked_call_id(self.provider, call_id))
            await self._request(call.update_async(twiml=twiml))

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
            raise ProviderUnavailable(
                self.provider, f"Twilio could not be reached: {type(exc).__name__}"
            ) from None
        except _RateLimited as exc:
            text = "Twilio answered 429" + (f" (code {exc.code})" if exc.code else "")
            raise ProviderRateLimited(
                self.provider,
                text + (f": {exc.message}" if exc.message else ""),
                retry_after_s=exc.retry_after,
                code=exc.code,
            ) from None
        except TwilioRestException as exc:
            raise _translated(exc) from None
        except (ValueError, KeyError, TypeError) as exc:  # an answer that is not Twilio's JSON
            raise ProviderApiError(self.provider, f"Twilio's answer could not be read: {exc}") from None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None


def transfer_twiml(request: TransferRequest) -> str:
    """``<Response><Dial><Number>`` (or ``<Sip>``) for the target: what replaces the stream's TwiML."""
    dial = Dial(caller_id=request.caller_id) if request.caller_id else Dial()
    if request.is_sip:
        uri = request.target
        if request.extra_headers:
            uri += ("&" if "?" in uri else "?") + urlencode(dict(request.extra_headers))
        dial.sip(uri)
    else:
        dial.number(request.target)
    response = VoiceResponse()
    response.append(dial)
    return str(response)


def conference_twiml(room: str) -> str:
    """``<Response><Dial><Conference>``: the call joins the room, which ends when either leaves."""
    dial = Dial()
    dial.conference(room, start_conference_on_enter=True, end_conference_on_exit=True, beep=False)
    response = VoiceResponse()
    response.append(dial)
    return str(response)


def _sdk_arguments(params: Mapping[str, Any], additional: Mapping[str, Any]) -> dict[str, Any]:
    """``calls.create`` keyword arguments for Twilio's parameters and the caller's ``additionalParams``."""
    arguments: dict[str, Any] = {}
    for name, value in [*params.items(), *additional.items()]:
        argument = _CREATE_ARGUMENTS.get(param_key(name))
        if argument is None:
            raise InvalidDialRequest(
                Provider.TWILIO, f"additionalParams.{name[:64]}: Twilio's Calls API has no such parameter"
            )
        arguments[argument] = value
    return arguments


def _error_body(text: str) -> tuple[str | None, str]:
    """Twilio's ``{"code", "message", …}`` error body."""
    try:
        document = json.loads(text)
    except ValueError:
        return None, text[:200]
    if not isinstance(document, dict):
        return None, ""
    code = document.get("code")
    return (None if code is None else str(code)), str(document.get("message") or "")[:200]


def _translated(exc: TwilioRestException) -> ProviderApiError:
    """404 (Twilio's code 20404) is ``CallNotFound``: what hanging up a completed call answers."""
    code = None if exc.code is None else str(exc.code)
    return error_for_status(Provider.TWILIO, "Twilio", int(exc.status), code, str(exc.msg)[:200])
