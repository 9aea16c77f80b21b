"""Telnyx's Call Control API (reference §2.4), on the official SDK's ``AsyncTelnyx``.

Dial: ``POST /v2/calls`` with the fields of dialing.py and the caller's ``additionalParams`` as extra JSON
fields; the answer's ``data.call_control_id`` names the call from then on. A 429 is ``ProviderRateLimited``
with Telnyx's ``x-ratelimit-reset`` (or a ``Retry-After``). Hang up: ``POST
/v2/calls/{call_control_id}/actions/hangup``; a call that has ended already answers 422 with error code 90018.
Fetch: ``GET /v2/calls/{call_control_id}`` (``is_alive``; Telnyx keeps it 10 minutes after the call).
Transfer: ``POST …/actions/transfer`` (``to``, ``from``, SIP ``custom_headers``); a warm transfer's join:
``…/actions/bridge`` (``call_control_id`` of the other call) then ``…/actions/streaming_stop``; DTMF: ``POST
…/actions/send_dtmf`` (``digits`` with ``w``/``W`` pauses, ``duration_millis`` 100-500). Each action carries a
fresh ``command_id``. ``Authorization: Bearer <API key>``. The SDK is imported here only, when a client is
made: it takes about two seconds to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable
from typing import TypeVar

import telnyx
from telnyx.types.custom_sip_header_param import CustomSipHeaderParam

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import CallAlreadyEnded, ProviderApiError, ProviderUnavailable
from callbridge.telephony.rest.client import (
    MAX_DTMF_TONE_MS,
    MIN_DTMF_TONE_MS,
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
from callbridge.telephony.telnyx.credentials import StoredTelnyxConfig
from callbridge.telephony.telnyx.dialing import dial_params

T = TypeVar("T")

CALL_ENDED_CODE = "90018"
"""Telnyx's error code for an action on a call that has already ended."""
API_VERSION_PATH = "/v2"


class TelnyxRestClient(ProviderRestClient):
    provider = Provider.TELNYX
    can_transfer = True
    can_send_dtmf = True
    can_join = True

    def __init__(self, api_key: str, config: StoredTelnyxConfig, *, api_url: str, timeout_s: float) -> None:
        self._config = config
        """The imported config: its Call Control application id and default audio place calls."""
        self._timeout_s = timeout_s
        # The SDK's own retries would multiply the timeout; the caller decides whether to try again.
        self._client = telnyx.AsyncTelnyx(
            api_key=api_key,
            base_url=api_url.rstrip("/") + API_VERSION_PATH,
            timeout=timeout_s,
            max_retries=0,
        )

    async def dial(self, request: DialRequest) -> DialResult:
        fields = dial_params(request, self._config)
        arguments = {("from_" if name == "from" else name): value for name, value in fields.items()}
        extra = dict(request.additional_params) or None
        answer = await self._request(self._client.calls.dial(**arguments, extra_body=extra))
        call_control_id = answer.data.call_control_id if answer.data is not None else None
        if not call_control_id:
            raise ProviderApiError(self.provider, "Telnyx's answer to the dial has no call_control_id")
        return DialResult(provider_call_id=call_control_id)

    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        call_control_id = checked_call_id(self.provider, provider_call_id)
        try:
            await self._request(self._client.calls.actions.hangup(call_control_id))
        except CallAlreadyEnded:
            return HangUpResult.ALREADY_ENDED
        return HangUpResult.HUNG_UP

    async def transfer(self, provider_call_id: str, request: TransferRequest) -> None:
        call_control_id = checked_call_id(self.provider, provider_call_id)
        headers: list[CustomSipHeaderParam] = [
            {"name": name, "value": value} for name, value in request.extra_headers.items()
        ]
        await self._request(
            self._client.calls.actions.transfer(
                call_control_id,
                to=request.target,
                from_=request.caller_id if request.caller_id else telnyx.omit,
                custom_headers=headers if headers else telnyx.omit,
                command_id=str(uuid.uuid4()),
            )
        )

    async def join(self, request: JoinRequest) -> None:
        """``actions/bridge`` of the caller's call with the human's, then ``actions/streaming_stop`` on both:
        a bridge leaves the media forks running, and callbridge's agents leave the call."""
        first = checked_call_id(self.provider, request.first_call_id)
        second = checked_call_id(self.provider, request.second_call_id)
        await self._request(
            self._client.calls.actions.bridge(
                first, call_control_id_to_bridge_with=second, command_id=str(uuid.uuid4())
            )
        )
        for call_control_id in (second, first):
            with contextlib.suppress(CallAlreadyEnded):  # the stream (or the call) is over already
                await self._request(
                    self._client.calls.actions.stop_streaming(call_control_id, command_id=str(uuid.uuid4()))
                )

    async def send_dtmf(self, provider_call_id: str, digits: str, *, tone_ms: int | None = None) -> None:
        call_control_id = checked_call_id(self.provider, provider_call_id)
        duration = telnyx.omit if tone_ms is None else min(MAX_DTMF_TONE_MS, max(MIN_DTMF_TONE_MS, tone_ms))
        await self._request(
            self._client.calls.actions.send_dtmf(
                call_control_id, digits=digits, duration_millis=duration, command_id=str(uuid.uuid4())
            )
        )

    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        call_control_id = checked_call_id(self.provider, provider_call_id)
        answer = await self._request(self._client.calls.retrieve_status(call_control_id))
        if answer.data is None:
            raise ProviderApiError(self.provider, "Telnyx's call status has no data")
        alive = answer.data.is_alive
        return ProviderCallState(
            provider_call_id,
            ProviderCallStatus.IN_PROGRESS if alive else ProviderCallStatus.ENDED,
            f"is_alive={str(alive).lower()}",
        )

    async def _request(self, request: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await request
        except (TimeoutError, telnyx.APITimeoutError):
            raise ProviderUnavailable(
                self.provider, f"Telnyx did not answer within {self._timeout_s:g} s"
            ) from None
        except telnyx.APIConnectionError:
            raise ProviderUnavailable(self.provider, "Telnyx could not be reached") from None
        except telnyx.APIStatusError as exc:
            raise _translated(exc) from None
        except telnyx.APIError as exc:  # an answer the SDK could not read
            raise ProviderApiError(
                self.provider, f"Telnyx's answer could not be read: {exc.message}"
            ) from None

    async def aclose(self) -> None:
        await self._client.close()


def _translated(exc: telnyx.APIStatusError) -> ProviderApiError:
    """``{"errors": [{"code", "title", "detail"}]}``; 422 with code 90018 is ``CallAlreadyEnded``."""
    code, message = _first_error(exc.body)
    if exc.status_code == 422 and code == CALL_ENDED_CODE:
        return CallAlreadyEnded(
            Provider.TELNYX, f"Telnyx answered 422 (code {code}): {message}", status_code=422, code=code
        )
    return error_for_status(
        Provider.TELNYX,
        "Telnyx",
        exc.status_code,
        code,
        message,
        retry_after=retry_after_s(exc.response.headers),
    )


def _first_error(body: object) -> tuple[str | None, str]:
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    text = first.get("detail") or first.get("title") or ""
    return (str(code) if code is not None else None), str(text)[:200]
