"""Plivo's Call API for one account, simulated: make a call (outbound calls, plivo_calls.py), hang up, a live
call, and an ended call's record (§3.5).

``DELETE /v1/Account/{auth_id}/Call/{call_uuid}/`` ends a call in progress (204); one that has gone answers
404. ``POST …/Call/{call_uuid}/`` with ``legs=aleg`` and ``aleg_url`` transfers a call in progress: the
account fetches that URL (POST, signed with V3 as every request to your URLs) and runs its
``<Response><Dial>`` with one ``<Number>`` or ``<User>`` (a SIP URI): the stream stops and the call goes on
with the target (or ``<Response><Conference>``: the call joins that room, recorded on the account), 202
``{"message": "call transferred"}``; XML it cannot run leaves the call as it was and answers 400. ``POST
…/Call/{call_uuid}/DTMF/`` (``digits``, ``leg``) records the keys, 202 ``{"message": "digits sent"}``. ``GET
…/Call/{call_uuid}/?status=live`` returns a call in progress (404 otherwise); ``GET …/Call/{call_uuid}/`` an
ended call's record (404 while it is live). HTTP Basic ``auth_id:auth_token``; anything else is 401. Errors
are Plivo's JSON: ``{"api_id", "error"}``."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from typing import Any, Unpack
from xml.etree import ElementTree

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callbridge.devkit.simulators.plivo import NONCE_HEADER, SIGNATURE_HEADER, PlivoSimulator
from callbridge.devkit.simulators.rest import plivo_calls
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi, basic_auth, same_secret
from callbridge.devkit.simulators.rest.line import SimulatedProviderCall

_DTMF = re.compile(r"^[0-9A-D*#wW]{1,64}$")
LIVE_STATUSES = frozenset({"queued", "ringing", "in-progress"})
"""A call in one of these is live: ``?status=live`` returns it, it has no record yet, DELETE ends it."""


class PlivoRestApi(SimulatedRestApi):
    name = "Plivo"
    live_status = "in-progress"

    def __init__(self, auth_id: str, auth_token: str, **options: Unpack[AccountOptions]) -> None:
        super().__init__(**options)
        self.auth_id = auth_id
        self.auth_token = auth_token
        """Authenticates the API's requests and signs the account's requests to your URLs."""

    def telephony_config(self) -> dict[str, Any]:
        return {"authId": self.auth_id, "authToken": self.auth_token}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/Account/{auth_id}/Call/", self._dial, methods=["POST"]),
            Route("/v1/Account/{auth_id}/Call/{call_uuid}/", self._call, methods=["GET", "DELETE", "POST"]),
            Route("/v1/Account/{auth_id}/Call/{call_uuid}/DTMF/", self._dtmf, methods=["POST"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return _error(status, message, headers)

    async def _dial(self, request: Request) -> JSONResponse:
        return await plivo_calls.dial(self, request)

    def authorized(self, request: Request, account: str) -> bool:
        credentials = basic_auth(request)
        return (
            credentials is not None
            and credentials[0] == self.auth_id == account
            and same_secret(credentials[1], self.auth_token)
        )

    async def _call(self, request: Request) -> Response:
        if not await self.received(request, request.path_params["auth_id"]):
            return _error(401, "authentication failed")
        call = self.calls.get(request.path_params["call_uuid"])
        live = call is not None and call.status in LIVE_STATUSES
        if request.method == "POST":
            if call is None or not live:
                return _error(404, "call not found")
            return await self._transfer(call, request)
        if request.method == "DELETE":
            if call is None or not live:
                return _error(404, "not found")
            call.hang_up_by_api("completed")
            return Response(status_code=204)
        if request.query_params.get("status") == "live":
            if call is None or not live:
                return _error(404, "call not found")
            return JSONResponse(
                {
                    "api_id": str(uuid.uuid4()),
                    "call_status": call.status,
                    "call_uuid": call.call_id,
                    "direction": "inbound",
                    "from": "14155550100",
                    "to": "14155550199",
                }
            )
        if call is None or live:
            return _error(404, "call not found")
        cause = "Normal Hangup" if call.status == "completed" else call.status
        return JSONResponse(
            {
                "api_id": str(uuid.uuid4()),
                "call_uuid": call.call_id,
                "call_direction": "inbound",
                "from_number": "14155550100",
                "to_number": "14155550199",
                "hangup_cause_name": cause,
                "hangup_source": "API Request" if call.hung_up_by_api else "Caller",
            }
        )

    async def _transfer(self, call: SimulatedProviderCall, request: Request) -> Response:
        body = await _json_object(request)
        if body is None:
            return _error(400, "the request body is not a JSON object")
        url = body.get("aleg_url")
        if body.get("legs") not in ("aleg", "both") or not isinstance(url, str) or not url:
            return _error(400, "legs=aleg (or both) and aleg_url are required to transfer the A leg")
        fields = {"CallUUID": call.call_id, "CallStatus": "in-progress", "Direction": "inbound"}
        nonce = "".join(secrets.choice("0123456789") for _ in range(20))
        headers = {
            SIGNATURE_HEADER: PlivoSimulator(url, self.auth_id, self.auth_token).sign(url, fields, nonce),
            NONCE_HEADER: nonce,
        }
        try:
            async with httpx.AsyncClient(timeout=self.outbound.callback_timeout_s) as http:
                response = await http.post(url, data=fields, headers=headers)
        except httpx.HTTPError as exc:
            return _error(400, f"aleg_url could not be fetched: {type(exc).__name__}")
        if response.status_code != 200:
            return _error(400, f"aleg_url answered HTTP {response.status_code}")
        try:
            room = _conference_room(response.text)
            target = "" if room is not None else _dial_target(response.text)
        except ValueError as exc:
            return _error(400, f"aleg_url's XML cannot be run: {exc}")
        if room is not None:
            self.join_conference(call, room)
        else:
            call.transfer_by_api(target)
        return JSONResponse({"api_id": str(uuid.uuid4()), "message": "call transferred"}, status_code=202)

    async def _dtmf(self, request: Request) -> Response:
        if not await self.received(request, request.path_params["auth_id"]):
            return _error(401, "authentication failed")
        call = self.calls.get(request.path_params["call_uuid"])
        if call is None or call.status not in LIVE_STATUSES:
            return _error(404, "call not found")
        body = await _json_object(request)
        digits = None if body is None else body.get("digits")
        if not isinstance(digits, str) or not _DTMF.match(digits):
            return _error(400, "digits must be 0-9, *, #, A-D, with w or W for pauses")
        if body is not None and body.get("leg", "aleg") not in ("aleg", "bleg"):
            return _error(400, "leg must be aleg or bleg")
        if call.refuse_dtmf is not None:
            return _error(400, call.refuse_dtmf)
        call.press_keys(digits)
        return JSONResponse({"api_id": str(uuid.uuid4()), "message": "digits sent"}, status_code=202)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _conference_room(xml: str) -> str | None:
    """The room of ``<Response><Conference>room</Conference>``; None for other XML."""
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - expat caps entity expansion; no external entities
    except ElementTree.ParseError:
        return None  # _dial_target says why
    conference = root.find("Conference") if root.tag == "Response" else None
    if conference is None:
        return None
    room = (conference.text or "").strip()
    if not room:
        raise ValueError("<Conference> names no room")
    return room


def _dial_target(xml: str) -> str:
    """The ``<Number>`` or ``<User>`` of ``<Response><Dial>``: ValueError for anything else."""
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 - expat caps entity expansion; no external entities
    except ElementTree.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from None
    dial = root.find("Dial") if root.tag == "Response" else None
    nouns = [] if dial is None else [child for child in dial if child.tag in ("Number", "User")]
    if len(nouns) != 1 or not (nouns[0].text or "").strip():
        raise ValueError("the simulated account runs <Response><Dial> with one <Number> or <User>")
    return (nouns[0].text or "").strip()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"api_id": str(uuid.uuid4()), "error": message}, status_code=status, headers=headers)
