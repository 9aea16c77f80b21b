"""Telnyx's Call Control API, simulated: dial (outbound calls, telnyx_calls.py), hang up and the call's
status (reference §2.4).

``POST /v2/calls/{call_control_id}/actions/hangup`` ends a live call; one that has ended answers 422 with
error code 90018. ``…/actions/bridge`` (``call_control_id``) connects two live calls (recorded as a room of
the account's ``conferences``) and ``…/actions/streaming_stop`` ends a call's stream. ``…/actions/transfer``
(``to``: +E.164 or a SIP URI, ``custom_headers``) stops the stream and sends the call to the target;
``…/actions/send_dtmf`` (``digits``, ``duration_millis`` 100-500) records the keys on the call; both answer
422 (90018) on an ended call and 422 (10015) for an invalid field. ``GET /v2/calls/{call_control_id}``
returns ``is_alive``. ``Authorization: Bearer <API key>``; anything else is 401 (code 10009). Unknown calls
are 404 (code 10005). Errors are Telnyx's JSON: ``{"errors": [{"code", "title", "detail"}]}``."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Unpack

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from callbridge.devkit.simulators.rest import telnyx_calls
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi, same_secret
from callbridge.devkit.simulators.rest.line import SimulatedProviderCall
from callbridge.devkit.simulators.telnyx import TelnyxSimulator, private_key_from_seed

CALL_ENDED = "90018"
AUTHENTICATION_FAILED = "10009"
RESOURCE_NOT_FOUND = "10005"
BAD_REQUEST = "10015"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_DTMF = re.compile(r"^[0-9A-D*#wW]{1,64}$")
ACCOUNT = "telnyx"
"""Telnyx's paths carry no account: the API key alone says whose calls they are."""


class TelnyxRestApi(SimulatedRestApi):
    name = "Telnyx"
    live_status = "active"
    ACCOUNT: ClassVar[str] = ACCOUNT

    def __init__(
        self,
        api_key: str,
        *,
        private_key: Ed25519PrivateKey | bytes | str | None = None,
        connection_id: str | None = None,
        account_id: str = "simulated-telnyx",
        **options: Unpack[AccountOptions],
    ) -> None:
        """``private_key`` signs the account's webhooks (a key, or its 32-byte seed, as the Telnyx
        simulator takes it; a new one when None): import ``public_key_base64``. ``connection_id``, when
        given, is the only Call Control application a dial may name (import it as ``applicationSid``)."""
        super().__init__(**options)
        self._api_key = api_key
        if private_key is None:
            private_key = Ed25519PrivateKey.generate()
        elif not isinstance(private_key, Ed25519PrivateKey):
            private_key = private_key_from_seed(private_key)
        self.private_key = private_key
        self.connection_id = connection_id
        self.account_id = account_id
        self.commands: dict[str, dict[str, Any]] = {}
        """A dial's answer by its ``command_id``: a repeat is answered the same, placing no call."""

    @property
    def public_key_base64(self) -> str:
        """The public key that verifies the account's webhooks, as Mission Control shows it."""
        return TelnyxSimulator("http://unused", private_key=self.private_key).public_key_base64

    def telephony_config(self) -> dict[str, Any]:
        config = {"accountSid": self.account_id, "apiKey": self._api_key, "publicKey": self.public_key_base64}
        if self.connection_id is not None:
            config["applicationSid"] = self.connection_id
        return config

    def routes(self) -> list[Route]:
        return [
            Route("/v2/calls", self._dial, methods=["POST"]),
            Route("/v2/calls/{call_control_id}/actions/hangup", self._hang_up, methods=["POST"]),
            Route("/v2/calls/{call_control_id}/actions/transfer", self._transfer, methods=["POST"]),
            Route("/v2/calls/{call_control_id}/actions/send_dtmf", self._send_dtmf, methods=["POST"]),
            Route("/v2/calls/{call_control_id}/actions/bridge", self._bridge, methods=["POST"]),
            Route(
                "/v2/calls/{call_control_id}/actions/streaming_stop", self._streaming_stop, methods=["POST"]
            ),
            Route("/v2/calls/{call_control_id}", self._status, methods=["GET"]),
        ]

    def unauthorized(self) -> JSONResponse:
        return _unauthorized()

    def error(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        return _error(status, code, title, detail, pointer, headers)

    async def _dial(self, request: Request) -> JSONResponse:
        return await telnyx_calls.dial(self, request)

    def authorized(self, request: Request, account: str) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and same_secret(token.strip(), self._api_key)

    async def _hang_up(self, request: Request) -> JSONResponse:
        if not await self.received(request, ACCOUNT):
            return _unauthorized()
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return _not_found()
        if call.status != self.live_status:
            return _error(
                422,
                CALL_ENDED,
                "Call has already ended",
                "This call is no longer active and can't receive commands.",
            )
        call.hang_up_by_api("ended")
        return JSONResponse({"data": {"result": "ok"}})

    async def _action(self, request: Request) -> tuple[SimulatedProviderCall, dict[str, Any]] | JSONResponse:
        """An action's call and JSON body, or the answer refusing it: unauthorized, an unknown call (404),
        a call that has ended (422, 90018), a body that is not a JSON object (400)."""
        if not await self.received(request, ACCOUNT):
            return _unauthorized()
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return _not_found()
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, BAD_REQUEST, "Bad Request", "The request body is not a JSON object.")
        if call.status != self.live_status:
            detail = "This call is no longer active and can't receive commands."
            return _error(422, CALL_ENDED, "Call has already ended", detail)
        return call, body

    async def _transfer(self, request: Request) -> JSONResponse:
        """§2.4 ``actions/transfer``: ``to`` (+E.164 or a SIP URI), optional ``from``, ``custom_headers``."""
        found = await self._action(request)
        if isinstance(found, JSONResponse):
            return found
        call, body = found
        to = body.get("to")
        if not isinstance(to, str) or not (_E164.match(to) or to.lower().startswith(("sip:", "sips:"))):
            detail = "The 'to' parameter must be a +E.164 number or a SIP URI."
            return _error(422, BAD_REQUEST, "Invalid 'to'", detail, "to")
        headers = body.get("custom_headers") or []
        if not isinstance(headers, list) or not all(
            isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)
            for h in headers
        ):
            detail = "custom_headers must be a list of {name, value} strings."
            return _error(422, BAD_REQUEST, "Invalid 'custom_headers'", detail, "custom_headers")
        call.transfer_by_api(to, {h["name"]: h["value"] for h in headers})
        return JSONResponse({"data": {"result": "ok"}})

    async def _send_dtmf(self, request: Request) -> JSONResponse:
        """§2.4 ``actions/send_dtmf``: ``digits`` (0-9, A-D, *, #, w, W), ``duration_millis`` 100-500."""
        found = await self._action(request)
        if isinstance(found, JSONResponse):
            return found
        call, body = found
        digits = body.get("digits")
        if not isinstance(digits, str) or not _DTMF.match(digits):
            detail = "digits must be 0-9, A-D, *, # with w or W for pauses."
            return _error(422, BAD_REQUEST, "Invalid 'digits'", detail, "digits")
        duration = body.get("duration_millis", 250)
        if not isinstance(duration, int) or not 100 <= duration <= 500:
            detail = "duration_millis must be between 100 and 500."
            return _error(422, BAD_REQUEST, "Invalid 'duration_millis'", detail, "duration_millis")
        if call.refuse_dtmf is not None:
            return _error(422, BAD_REQUEST, "Cannot send DTMF", call.refuse_dtmf, "digits")
        call.press_keys(digits)
        return JSONResponse({"data": {"result": "ok"}})

    async def _bridge(self, request: Request) -> JSONResponse:
        """``actions/bridge``: ``call_control_id``, another live call of the account. The two calls hear
        each other (recorded as the room ``bridge-<this call>``); their media streams go on until stopped."""
        found = await self._action(request)
        if isinstance(found, JSONResponse):
            return found
        call, body = found
        other = self.calls.get(body.get("call_control_id") or "")
        if other is None or other is call:
            detail = "call_control_id must name another call of this account."
            return _error(422, BAD_REQUEST, "Invalid 'call_control_id'", detail, "call_control_id")
        if other.status != self.live_status:
            detail = "This call is no longer active and can't receive commands."
            return _error(422, CALL_ENDED, "Call has already ended", detail)
        room = f"bridge-{call.call_id}"
        self.record_conference(call, room)
        self.record_conference(other, room)
        return JSONResponse({"data": {"result": "ok"}})

    async def _streaming_stop(self, request: Request) -> JSONResponse:
        """``actions/streaming_stop``: the call's media stream ends; the call stays up (bridged or parked)."""
        found = await self._action(request)
        if isinstance(found, JSONResponse):
            return found
        call, _ = found
        call.stop_stream()
        return JSONResponse({"data": {"result": "ok"}})

    async def _status(self, request: Request) -> JSONResponse:
        if not await self.received(request, ACCOUNT):
            return _unauthorized()
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return _not_found()
        data: dict[str, Any] = {
            "record_type": "call",
            "call_control_id": call.call_id,
            "call_leg_id": f"leg-{call.call_id}",
            "call_session_id": f"session-{call.call_id}",
            "is_alive": call.status == self.live_status,
        }
        return JSONResponse({"data": data})


def _unauthorized() -> JSONResponse:
    return _error(
        401,
        AUTHENTICATION_FAILED,
        "Authentication failed",
        "The API key looks malformed or is not valid. Check that you are sending it correctly.",
    )


def _not_found() -> JSONResponse:
    return _error(
        404, RESOURCE_NOT_FOUND, "Resource not found", "The requested resource or URL could not be found."
    )


def _error(
    status: int,
    code: str,
    title: str,
    detail: str,
    pointer: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": f"/{pointer}"}
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)
