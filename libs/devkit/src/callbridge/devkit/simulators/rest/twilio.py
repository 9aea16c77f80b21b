"""Twilio's REST API for one account, simulated: the Call resource's create (outbound calls, twilio_calls.py),
hang-up and fetch (reference §1.4).

``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Status=completed`` ends a call in
progress; a call that has ended (or never existed) answers 404 with Twilio's error 20404. ``GET`` on the same
path returns the call. ``Twiml=<Response><Dial>…</Dial></Response>`` on it transfers a call in progress: the
stream stops and the call goes on with the ``<Number>`` or ``<Sip>`` target (recorded on the call, with a SIP
URI's query as its headers), or in the ``<Conference>`` room (recorded on the account, with every call that
joined it); other TwiML is refused with 400. HTTP Basic ``AccountSid:AuthToken``; anything
else is 401 with error 20003. Errors are Twilio's JSON: ``{"code", "message", "more_info", "status"}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Unpack
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from callbridge.devkit.simulators.rest import twilio_calls
from callbridge.devkit.simulators.rest.base import AccountOptions, SimulatedRestApi, basic_auth, same_secret
from callbridge.devkit.simulators.rest.line import SimulatedProviderCall

API_VERSION = "2010-04-01"
AUTHENTICATE = 20003
NOT_FOUND = 20404
INVALID_PARAMETER = 21218
ENDED = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})


class TwilioRestApi(SimulatedRestApi):
    name = "Twilio"
    live_status = "in-progress"

    def __init__(self, account_sid: str, auth_token: str, **options: Unpack[AccountOptions]) -> None:
        super().__init__(**options)
        self.account_sid = account_sid
        self.auth_token = auth_token
        """Authenticates the API's requests and signs the account's callbacks."""

    def telephony_config(self) -> dict[str, Any]:
        return {"accountSid": self.account_sid, "authToken": self.auth_token}

    def routes(self) -> list[Route]:
        calls = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls"
        return [
            Route(f"{calls}.json", self._dial, methods=["POST"]),
            Route(f"{calls}/{{call_sid}}.json", self._call, methods=["GET", "POST"]),
        ]

    def error(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        return _error(status, code, message, headers)

    async def _dial(self, request: Request) -> JSONResponse:
        return await twilio_calls.dial(self, request)

    def authorized(self, request: Request, account: str) -> bool:
        credentials = basic_auth(request)
        return (
            credentials is not None
            and credentials[0] == self.account_sid == account
            and same_secret(credentials[1], self.auth_token)
        )

    async def _call(self, request: Request) -> JSONResponse:
        account_sid, call_sid = request.path_params["account_sid"], request.path_params["call_sid"]
        if not await self.received(request, account_sid):
            return _error(401, AUTHENTICATE, "Authenticate")
        call = self.calls.get(call_sid)
        not_found = _error(404, NOT_FOUND, f"The requested resource {request.url.path} was not found")
        if call is None:
            return not_found
        if request.method == "GET":
            return JSONResponse(self._resource(call.call_id, call.status, request.url.path))
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if "Twiml" in form:
            return self._transfer(call, form["Twiml"], request.url.path, not_found)
        status = form.get("Status")
        if status not in ("completed", "canceled"):
            return _error(400, INVALID_PARAMETER, f"Status {status!r} is not valid: completed or canceled")
        if call.status in ENDED:
            return not_found  # §1.4: hanging up a call that has ended answers 404 / 20404
        call.hang_up_by_api(
            "completed" if status == "completed" or call.status == self.live_status else "canceled"
        )
        return JSONResponse(self._resource(call.call_id, call.status, request.url.path))

    def _transfer(
        self, call: SimulatedProviderCall, twiml: str, uri: str, not_found: JSONResponse
    ) -> JSONResponse:
        """§1.4: new TwiML replaces the running ``<Connect><Stream>``; the stream stops. The simulated
        account runs ``<Dial>`` with one ``<Number>`` or ``<Sip>`` (a SIP URI's query is its headers)."""
        if call.status in ENDED:
            return not_found
        try:
            room = conference_room(twiml)
            target, headers = ("", {}) if room is not None else dial_target(twiml)
        except ValueError as exc:
            return _error(400, INVALID_PARAMETER, f"Twiml is not valid: {exc}")
        if room is not None:
            self.join_conference(call, room)
        else:
            call.transfer_by_api(target, headers)
        return JSONResponse(self._resource(call.call_id, call.status, uri))

    def _resource(self, call_sid: str, status: str, uri: str) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        return {
            "sid": call_sid,
            "account_sid": self.account_sid,
            "status": status,
            "direction": "inbound",
            "from": "+15005550006",
            "to": "+15005550001",
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "uri": uri,
        }


def conference_room(twiml: str) -> str | None:
    """The room of ``<Response><Dial><Conference>room</Conference></Dial>``; None for other TwiML."""
    try:
        root = ElementTree.fromstring(twiml)  # noqa: S314 - as plivo_xml.py: expat caps entity expansion
    except ElementTree.ParseError:
        return None  # dial_target says why
    dial = root.find("Dial") if root.tag == "Response" else None
    conference = None if dial is None else dial.find("Conference")
    if conference is None:
        return None
    room = (conference.text or "").strip()
    if not room:
        raise ValueError("<Conference> names no room")
    return room


def dial_target(twiml: str) -> tuple[str, dict[str, str]]:
    """The number or SIP URI (and a SIP URI's headers) of ``<Response><Dial>``: ValueError otherwise."""
    try:
        root = ElementTree.fromstring(twiml)  # noqa: S314 - as plivo_xml.py: expat caps entity expansion
    except ElementTree.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from None
    dial = root.find("Dial") if root.tag == "Response" else None
    nouns = [] if dial is None else [child for child in dial if child.tag in ("Number", "Sip")]
    if dial is None or len(nouns) > 1:
        raise ValueError(
            "the simulated account runs <Response><Dial> with one <Number> or <Sip> on a live call"
        )
    target = (nouns[0].text if nouns else dial.text) or ""
    target = target.strip()
    if not target:
        raise ValueError("<Dial> names no number")
    uri, _, query = target.partition("?")
    if uri.lower().startswith(("sip:", "sips:")):
        return uri, dict(parse_qsl(query))
    return target, {}


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )
