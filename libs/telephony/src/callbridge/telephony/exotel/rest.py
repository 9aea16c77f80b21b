"""Exotel's Voice v1 API for calls, over httpx (Exotel has no Python SDK).

Dial: ``POST /v1/Accounts/{sid}/Calls/connect.json`` (``.json`` asks for a JSON answer; XML otherwise) with
the form of dialing.py, answering ``{"Call": {"Sid", "Status", …}}``. Fetch: ``GET
/v1/Accounts/{sid}/Calls/{CallSid}.json``, answering the same. HTTP Basic with the API key and token. The host
is the config's region (``api.exotel.com`` Singapore, ``api.in.exotel.com`` Mumbai) unless
CALLBRIDGE_EXOTEL_API_URL says otherwise.

Hang up: Exotel has no API for it on a call in a flow (reference §4.5): closing the Voicebot's media stream
moves the flow to its next applet, a Hangup applet ends the call. ``hang_up`` says so
(``UnsupportedByProvider``) without a request.
"""

from __future__ import annotations

import httpx

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import ProviderApiError, UnsupportedByProvider
from callbridge.telephony.exotel.credentials import StoredExotelConfig
from callbridge.telephony.exotel.dialing import dial_form
from callbridge.telephony.rest.client import (
    DialRequest,
    DialResult,
    HangUpResult,
    ProviderCallState,
    ProviderCallStatus,
    ProviderRestClient,
)
from callbridge.telephony.rest.http import JsonApi, checked_call_id

API_VERSION = "v1"

_STATUSES = {
    "queued": ProviderCallStatus.QUEUED,
    "ringing": ProviderCallStatus.RINGING,
    "in-progress": ProviderCallStatus.IN_PROGRESS,
    "completed": ProviderCallStatus.ENDED,
    "canceled": ProviderCallStatus.ENDED,
    "busy": ProviderCallStatus.BUSY,
    "no-answer": ProviderCallStatus.NO_ANSWER,
    "failed": ProviderCallStatus.FAILED,
}


class ExotelRestClient(ProviderRestClient):
    provider = Provider.EXOTEL

    def __init__(self, config: StoredExotelConfig, api_token: str, *, api_url: str, timeout_s: float) -> None:
        self._config = config
        self._account_sid = config.account_sid
        self._api = JsonApi(
            self.provider,
            "Exotel",
            api_url,
            auth=(config.api_key, api_token),
            timeout_s=timeout_s,
            read_error=_read_error,
        )

    async def dial(self, request: DialRequest) -> DialResult:
        form = dial_form(request, self._config)
        path = (API_VERSION, "Accounts", self._account_sid, "Calls", "connect")
        answer = self._api.json_object(
            await self._api.request("POST", path, suffix=".json", form=form, expect=(200, 201))
        )
        # {"Call": {"Sid"}} as the v1 API answers; its newer guide shows {"call": {"sid"}}: read either.
        call = answer.get("Call", answer.get("call"))
        sid = call.get("Sid", call.get("sid")) if isinstance(call, dict) else None
        if not isinstance(sid, str) or not sid:
            raise ProviderApiError(self.provider, "Exotel's answer to the dial has no Call.Sid")
        return DialResult(provider_call_id=sid)

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        raise UnsupportedByProvider(
            self.provider,
            "Exotel has no API to hang up a call in a flow: close its media stream, and the flow's next "
            "applet (a Hangup applet) ends the call",
        )

    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        call_sid = checked_call_id(self.provider, provider_call_id)
        path = (API_VERSION, "Accounts", self._account_sid, "Calls", call_sid)
        document = self._api.json_object(await self._api.request("GET", path, suffix=".json"))
        call = document.get("Call")
        status = call.get("Status") if isinstance(call, dict) else None
        known = _STATUSES.get(status.lower()) if isinstance(status, str) else None
        if known is None or not isinstance(status, str):
            raise ProviderApiError(
                self.provider, f"Exotel's answer has no known Call.Status: {str(status)[:40]!r}"
            )
        return ProviderCallState(provider_call_id, known, status)

    async def aclose(self) -> None:
        await self._api.aclose()


def _read_error(response: httpx.Response) -> tuple[str | None, str]:
    """``{"RestException": {"Status", "Message", "Code"?}}``, Exotel's v1 error body; plain text otherwise."""
    try:
        document = response.json()
    except ValueError:
        return None, response.text[:200]
    error = document.get("RestException") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, ""
    code = error.get("Code")
    return (str(code) if code is not None else None), str(error.get("Message") or "")
