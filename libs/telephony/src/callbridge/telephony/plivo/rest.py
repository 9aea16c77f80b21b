"""Plivo's Call API (reference §3.5), over httpx.

Dial: ``POST /v1/Account/{auth_id}/Call/`` with the JSON body of dialing.py, 201 ``{"api_id", "message",
"request_uuid"}``: the call's UUID is not known yet (it comes with the ring, answer and hang-up requests,
beside ``RequestUUID``). Hang up: ``DELETE /v1/Account/{auth_id}/Call/{call_uuid}/``, 204; 404 when the call
has already gone. Fetch: ``GET …/Call/{call_uuid}/?status=live`` for a call in progress, else ``GET
…/Call/{call_uuid}/`` for the record of an ended one. HTTP Basic ``auth_id:auth_token``; errors are
``{"api_id", "error"}``. Transfer: ``POST …/Call/{call_uuid}/`` with ``legs=aleg`` and ``aleg_url`` (the
``<Dial>`` XML webhooks serves), 202; Plivo fetches that XML and runs it, which ends the stream. DTMF: ``POST
…/Call/{call_uuid}/DTMF/`` with ``digits`` and ``leg=aleg``, 202 ``{"message": "digits sent"}``.

Not the official SDK: plivo-python (4.x) cannot be pointed at another API URL. Every voice request sets the
client's ``base_uri`` back to its module constant ``https://api.plivo.com/v1/Account`` (``Client.request``
with ``is_voice_request``), and it retries a 5xx answer against hard-coded fallback hosts, printing to stdout.
So neither the simulators nor a regional or proxied API could stand in, which CALLBRIDGE_PLIVO_API_URL
requires. The three calls are small enough to make here, as the SDK makes them.
"""

from __future__ import annotations

import httpx

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import CallNotFound, ProviderApiError
from callbridge.telephony.plivo.dialing import dial_body
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
from callbridge.telephony.rest.http import JsonApi, checked_call_id

API_VERSION = "v1"

# A live call's ``call_status`` (Plivo's CallStatus values).
_LIVE_STATUSES = {
    "queued": ProviderCallStatus.QUEUED,
    "ringing": ProviderCallStatus.RINGING,
    "early media": ProviderCallStatus.RINGING,
    "in-progress": ProviderCallStatus.IN_PROGRESS,
}


class PlivoRestClient(ProviderRestClient):
    provider = Provider.PLIVO
    can_transfer = True
    can_join = True
    can_send_dtmf = True

    def __init__(self, auth_id: str, auth_token: str, *, api_url: str, timeout_s: float) -> None:
        self._auth_id = auth_id
        self._api = JsonApi(
            self.provider,
            "Plivo",
            api_url,
            auth=(auth_id, auth_token),
            timeout_s=timeout_s,
            read_error=_read_error,
        )

    def _call_path(self, provider_call_id: str) -> tuple[str, ...]:
        call_uuid = checked_call_id(self.provider, provider_call_id)
        return (API_VERSION, "Account", self._auth_id, "Call", call_uuid)

    async def dial(self, request: DialRequest) -> DialResult:
        body = dial_body(request)
        path = (API_VERSION, "Account", self._auth_id, "Call")
        answer = self._api.json_object(
            await self._api.request("POST", path, trailing_slash=True, json=body, expect=(200, 201))
        )
        request_uuid = answer.get("request_uuid")
        if isinstance(request_uuid, list) and len(request_uuid) == 1:
            request_uuid = request_uuid[0]  # one destination (``to`` may list several, separated by <)
        if not isinstance(request_uuid, str) or not request_uuid:
            raise ProviderApiError(self.provider, "Plivo's answer to the dial has no request_uuid")
        return DialResult(provider_call_id=None, provider_request_id=request_uuid)

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        path = self._call_path(provider_call_id)
        try:
            await self._api.request("DELETE", path, trailing_slash=True, expect=(200, 202, 204))
        except CallNotFound:
            return HangUpResult.ALREADY_ENDED  # §3.5: 404 if already gone
        return HangUpResult.HUNG_UP

    async def transfer(self, provider_call_id: str, request: TransferRequest) -> None:
        if request.xml_url is None:
            raise ValueError("a Plivo transfer needs the URL of its <Dial> XML (TransferRequest.xml_url)")
        body = {"legs": "aleg", "aleg_url": request.xml_url, "aleg_method": "POST"}
        path = self._call_path(provider_call_id)
        await self._api.request("POST", path, trailing_slash=True, json=body, expect=(200, 202))

    async def join(self, request: JoinRequest) -> None:
        """Both calls transferred to the ``<Conference>`` XML webhooks serves (``xml_urls``): the human's
        first, then the caller's, each as a cold transfer is."""
        calls = ((request.second_call_id, request.xml_urls[1]), (request.first_call_id, request.xml_urls[0]))
        for call_id, xml_url in calls:
            body = {"legs": "aleg", "aleg_url": xml_url, "aleg_method": "POST"}
            path = self._call_path(call_id)
            await self._api.request("POST", path, trailing_slash=True, json=body, expect=(200, 202))

    async def send_dtmf(self, provider_call_id: str, digits: str, *, tone_ms: int | None = None) -> None:
        path = (*self._call_path(provider_call_id), "DTMF")
        body = {"digits": digits, "leg": "aleg"}
        await self._api.request("POST", path, trailing_slash=True, json=body, expect=(200, 202))

    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        path = self._call_path(provider_call_id)
        try:
            live = await self._api.request("GET", path, trailing_slash=True, params={"status": "live"})
        except CallNotFound:
            pass  # not in progress: its record, if it ended
        else:
            document = self._api.json_object(live)
            status = str(document.get("call_status") or "")
            return ProviderCallState(
                provider_call_id, _LIVE_STATUSES.get(status, ProviderCallStatus.IN_PROGRESS), status
            )
        record = self._api.json_object(await self._api.request("GET", path, trailing_slash=True))
        cause = record.get("hangup_cause_name")
        return ProviderCallState(
            provider_call_id,
            ProviderCallStatus.ENDED,
            "completed",
            detail=str(cause)[:200] if isinstance(cause, str) and cause else None,
        )

    async def aclose(self) -> None:
        await self._api.aclose()


def _read_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        document = response.json()
    except ValueError:
        return None, response.text[:200]
    error = document.get("error") if isinstance(document, dict) else None
    return None, str(error or "")
