"""Exotel's outbound calls on the simulated account: Connect Voice AI (reference §4.1, §4.5).

``POST /v1/Accounts/{sid}/Calls/connect`` (a form, HTTP Basic with the API key and token; ``.json`` for a
JSON answer, XML ``<TwilioResponse><Call>`` otherwise) with ``From`` (the number dialed), ``CallerId`` (the
ExoPhone), ``StreamType=bidirectional`` and ``StreamUrl`` answers ``{"Call": {"Sid", "Status":
"in-progress", "Direction": "outbound-api", …}}``. Parameter names are read case-insensitively (Exotel's
newer guide writes them in lower case). On answer Exotel opens ``StreamUrl`` (``wss://`` or ``ws://``, its
``?sample-rate=``) and when the stream closes the call ends.

``StatusCallback`` gets a form POST (Exotel signs nothing; user and password in the URL become Basic auth):
``ringing`` and ``answered`` when ``StatusCallbackEvents[]`` asks for them (``EventType``, and ``Status``
``ringing`` / ``in-progress``, which the documents do not give: an assumption), and the terminal one always
(``CallSid``, ``Status`` completed, busy, no-answer or failed, ``RecordingUrl``, ``DateUpdated``; with
``EventType=terminal``, ``From``, ``To``, ``PhoneNumberSid``, ``StartTime``, ``EndTime``,
``ConversationDuration``, ``Direction`` and ``CustomField`` when events were asked for). The documented
``Legs`` array is left out: how a form would carry it is not documented. Errors are
``{"RestException": {"Status", "Message"}}``. The simulator places Connect Voice AI calls only: a dial with a
flow ``Url`` is refused.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callbridge.devkit.simulators.base import FORM_CONTENT_TYPE
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.exotel import ExotelAnswer, ExotelSimulator, parse_exotel_answer
from callbridge.devkit.simulators.rest.callbacks import Callback, SignedRequest
from callbridge.devkit.simulators.rest.outbound import CallFlow, OutboundCall, Outcome, StreamStart

if TYPE_CHECKING:
    from callbridge.devkit.simulators.rest.exotel import ExotelRestApi

__all__ = ["ExotelCallFlow", "dial"]

DEFAULT_TIMEOUT_S = 45  # Exotel does not document its ring timeout without TimeOut; a typical carrier's
MAX_STREAM_URL_CHARS = 600
EVENTS = frozenset({"ringing", "answered", "terminal"})
STATUS = {
    Outcome.COMPLETED: "completed",
    Outcome.BUSY: "busy",
    Outcome.NO_ANSWER: "no-answer",
    Outcome.FAILED: "failed",
    Outcome.CANCELED: "completed",  # no API cancels an Exotel call; listed for completeness
}


async def dial(api: ExotelRestApi, request: Request) -> Response:
    sid = request.path_params["sid"]
    if not await api.received(request, sid):
        return api.error(401, "Authentication is required to view this page.")
    pairs = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
    fields = {name.lower(): value for name, value in pairs}
    events = [value.lower() for name, value in pairs if name.lower().startswith("statuscallbackevents")]
    if not fields.get("from") or not fields.get("callerid"):
        return api.error(400, "From and CallerId are mandatory")
    if fields.get("url"):
        return api.error(
            400, "The simulated Exotel account places Connect Voice AI calls only, not flows (Url)"
        )
    if fields.get("streamtype") != "bidirectional":
        return api.error(400, "StreamType must be bidirectional (the simulator streams both ways only)")
    stream_url = fields.get("streamurl", "")
    if not stream_url or len(stream_url) > MAX_STREAM_URL_CHARS:
        return api.error(400, f"StreamUrl is mandatory, at most {MAX_STREAM_URL_CHARS} characters")
    timeout = fields.get("timeout", str(DEFAULT_TIMEOUT_S))
    if not timeout.isdigit() or int(timeout) < 1:
        return api.error(400, "TimeOut must be a whole number of seconds")
    unknown = sorted(set(events) - EVENTS)
    if unknown:
        return api.error(400, f"StatusCallbackEvents may be ringing, answered or terminal, not {unknown}")
    call_sid = secrets.token_hex(16)
    try:  # Exotel takes ws:// as well as wss:// here (its AgentStream guide)
        answer = parse_exotel_answer(
            json.dumps({"url": stream_url}),
            call_sid=call_sid,
            from_number=fields["from"],
            to_number=fields["callerid"],
            allow_insecure_ws=True,
        )
    except AnswerError as exc:
        return api.error(400, f"StreamUrl: {exc}")
    behaviour = api.outbound.script.behaviour_for(fields["from"])
    if behaviour.kind == "rate_limited":
        headers = {} if behaviour.retry_after_s is None else {"Retry-After": f"{behaviour.retry_after_s:g}"}
        return api.error(429, "Too Many Requests", headers)
    call = OutboundCall(
        provider=api.name,
        call_id=call_sid,
        to=fields["from"],
        from_=fields["callerid"],
        behaviour=behaviour,
        params={**fields, "statuscallbackevents": events},
        line=api.add_call(call_sid, status="queued"),
        callbacks=api.outbound.sender(call_sid),
    )
    api.outbound.start(ExotelCallFlow(call, api, answer, float(timeout), frozenset(events)))
    resource = _resource(sid, call)
    if request.url.path.endswith(".json"):
        return JSONResponse({"Call": resource})
    return Response(_xml(resource), media_type="application/xml")


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # Exotel's local-time format


def _resource(sid: str, call: OutboundCall) -> dict[str, Any]:
    now = _now()
    return {
        "Sid": call.call_id,
        "ParentCallSid": None,
        "DateCreated": now,
        "DateUpdated": now,
        "AccountSid": sid,
        "To": "",
        "From": call.to,
        "PhoneNumberSid": call.from_,
        "Status": "in-progress",
        "StartTime": now,
        "EndTime": None,
        "Duration": None,
        "Price": None,
        "Direction": "outbound-api",
        "AnsweredBy": None,
        "ForwardedFrom": None,
        "CallerName": None,
        "Uri": f"/v1/Accounts/{sid}/Calls/{call.call_id}",
        "RecordingUrl": None,
    }


def _xml(resource: dict[str, Any]) -> str:
    root = ET.Element("TwilioResponse")  # sic: Exotel's v1 XML answers keep this root element
    element = ET.SubElement(root, "Call")
    for name, value in resource.items():
        ET.SubElement(element, name).text = "" if value is None else str(value)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


class ExotelCallFlow(CallFlow):
    def __init__(
        self,
        call: OutboundCall,
        api: ExotelRestApi,
        answer: ExotelAnswer,
        ring_timeout_s: float,
        events: frozenset[str],
    ) -> None:
        super().__init__(call, ring_timeout_s)
        self._answer = answer
        self._events = events
        status_url = call.params.get("statuscallback")
        self._status_url = status_url if isinstance(status_url, str) and status_url else None
        self._simulator = ExotelSimulator(
            self._status_url or f"{api.base_url}/",
            "unused: Exotel's stream carries no secret of ours",
            account_sid=api.account_sid,
            **api.outbound.stream_options(),
        )
        self._created = _now()
        self._start_time = ""

    def initiated(self) -> None:
        self._created = _now()

    def ringing(self) -> None:
        self.call.line.status = "ringing"
        if "ringing" in self._events:
            self._post("ringing", {"EventType": "ringing", "Status": "ringing"})

    async def answered(self) -> StreamStart | None:
        self.call.line.status = "in-progress"
        self._start_time = _now()
        if "answered" in self._events:
            self._post("answered", {"EventType": "answered", "Status": "in-progress"})
        return StreamStart(self._simulator, self._answer)

    def stream_opened(self, stream_id: str) -> None:
        pass  # Exotel reports no stream events to StatusCallback

    def stream_closed(self, error: str | None) -> None:
        pass  # "When the bot closes the WebSocket, the call ends" (§4.1): ended() reports it

    def ended(self, outcome: Outcome) -> None:
        call = self.call
        status = STATUS[outcome]
        call.line.status = status
        fields = {"Status": status, "RecordingUrl": ""}
        if self._events:
            fields |= {
                "EventType": "terminal",
                "DateCreated": self._created,
                "To": "",
                "From": call.to,
                "PhoneNumberSid": call.from_,
                "StartTime": self._start_time or self._created,
                "EndTime": _now(),
                "ConversationDuration": str(call.duration_s),
                "Direction": "outbound-api",
                "CustomField": str(call.params.get("customfield", "")),
            }
        self._post("terminal", fields)

    def _post(self, event: str, extra: dict[str, str]) -> None:
        if self._status_url is None:
            return
        fields = {"CallSid": self.call.call_id, "DateUpdated": _now(), **extra}
        url = self._status_url
        self.call.callbacks.post(Callback(f"{event} {extra['Status']}", lambda: _signed(url, fields)))


def _signed(url: str, fields: dict[str, str]) -> SignedRequest:
    """Exotel signs nothing; a user and password in the URL are sent as Basic auth, as HTTP clients do."""
    parts = urlsplit(url)
    headers = {"Content-Type": FORM_CONTENT_TYPE}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return SignedRequest("POST", url, headers, urlencode(fields).encode())
