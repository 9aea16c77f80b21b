"""Twilio's outbound calls on the simulated account (reference §1.4, §1.1, §5.1).

``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` (form, HTTP Basic) answers 201 with the Call resource,
``status: queued``. The call then posts its progress to ``StatusCallback`` for each ``StatusCallbackEvent``
asked for (``initiated``, ``ringing``, ``answered`` as ``CallStatus=in-progress``; without any, only
``completed``), the last one's ``CallStatus`` being how it ended: ``completed``, ``busy``, ``no-answer``,
``failed`` or ``canceled``. Each is signed with ``X-Twilio-Signature`` and carries ``SequenceNumber``,
``Timestamp`` and ``CallbackSource=call-progress-events``. On answer the inline ``Twiml``'s
``<Connect><Stream url>`` is opened (its upgrade signed too), and the ``<Stream statusCallback>`` gets
``stream-started`` and ``stream-stopped`` (``stream-error`` when it cannot be opened); when the stream ends
the TwiML's next verb, ``<Hangup/>``, ends the call. TwiML Twilio cannot run ends the answered call (its
error 12100). The simulator runs inline ``Twiml`` only: a dial with ``Url`` or ``ApplicationSid`` is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse

from callbridge.devkit.simulators.base import FORM_CONTENT_TYPE
from callbridge.devkit.simulators.errors import TwiMLError
from callbridge.devkit.simulators.rest.callbacks import Callback, SignedRequest
from callbridge.devkit.simulators.rest.outbound import CallFlow, OutboundCall, Outcome, StreamStart
from callbridge.devkit.simulators.twilio import SIGNATURE_HEADER, TwilioSimulator, new_sid
from callbridge.devkit.simulators.twiml import TwiMLAnswer, parse_twiml

if TYPE_CHECKING:
    from callbridge.devkit.simulators.rest.twilio import TwilioRestApi

__all__ = ["TwilioCallFlow", "dial"]

API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT_S = 60  # Twilio's ring timeout when the dial gives none
MAX_TIMEOUT_S = 600
EVENTS = ("initiated", "ringing", "answered", "completed")
TOO_MANY_REQUESTS = 20429
NO_TO, NO_FROM, NO_URL, INVALID_TIMEOUT = 21201, 21213, 21205, 21208
SIP_RESPONSE = {
    Outcome.COMPLETED: "200",
    Outcome.BUSY: "486",
    Outcome.NO_ANSWER: "487",
    Outcome.FAILED: "404",
    Outcome.CANCELED: "487",
}


async def dial(api: TwilioRestApi, request: Request) -> JSONResponse:
    """The Calls resource's create: validate, apply the callee script, start the call."""
    account_sid = request.path_params["account_sid"]
    if not await api.received(request, account_sid):
        return api.error(401, 20003, "Authenticate")
    pairs = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
    fields = dict(pairs)
    to, from_ = fields.get("To", ""), fields.get("From", "")
    if not to:
        return api.error(400, NO_TO, "No 'To' number is specified")
    if not from_:
        return api.error(400, NO_FROM, "No 'From' number is specified")
    if not fields.get("Twiml"):
        if fields.get("Url") or fields.get("ApplicationSid"):
            return api.error(400, NO_URL, "The simulated Twilio account runs inline Twiml only, not a Url")
        return api.error(400, NO_URL, "A 'Url', 'Twiml' or 'ApplicationSid' parameter is required")
    timeout_text = fields.get("Timeout", str(DEFAULT_TIMEOUT_S))
    if not timeout_text.isdigit() or not 1 <= int(timeout_text) <= MAX_TIMEOUT_S:
        return api.error(400, INVALID_TIMEOUT, f"Timeout must be between 1 and {MAX_TIMEOUT_S}")
    behaviour = api.outbound.script.behaviour_for(to)
    if behaviour.kind == "rate_limited":
        headers = {} if behaviour.retry_after_s is None else {"Retry-After": f"{behaviour.retry_after_s:g}"}
        return api.error(429, TOO_MANY_REQUESTS, "Too Many Requests", headers=headers)
    call_sid = new_sid("CA")
    events = [value for name, value in pairs if name == "StatusCallbackEvent"]
    call = OutboundCall(
        provider=api.name,
        call_id=call_sid,
        to=to,
        from_=from_,
        behaviour=behaviour,
        params={**fields, "StatusCallbackEvent": events},
        line=api.add_call(call_sid, status="queued"),
        callbacks=api.outbound.sender(call_sid),
    )
    flow = TwilioCallFlow(call, api, float(timeout_text), events)
    api.outbound.start(flow)
    return JSONResponse(_resource(api.account_sid, call, "queued"), status_code=201)


def _resource(account_sid: str, call: OutboundCall, status: str) -> dict[str, Any]:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": call.call_id,
        "account_sid": account_sid,
        "to": call.to,
        "from": call.from_,
        "status": status,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": now,
        "date_updated": now,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "price": None,
        "parent_call_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call.call_id}.json",
    }


class TwilioCallFlow(CallFlow):
    def __init__(
        self, call: OutboundCall, api: TwilioRestApi, ring_timeout_s: float, events: list[str]
    ) -> None:
        super().__init__(call, ring_timeout_s)
        self._account_sid = api.account_sid
        self._status_url = call.params.get("StatusCallback") or None
        self._status_method = (call.params.get("StatusCallbackMethod") or "POST").upper()
        self._events = frozenset(events) or frozenset({"completed"})  # Twilio's default: completed only
        self._sequence = 0
        self._allow_insecure_ws = api.outbound.allow_insecure_ws
        self._simulator = TwilioSimulator(
            self._status_url or f"{api.base_url}/",
            api.auth_token,
            api.account_sid,
            **api.outbound.stream_options(),
        )
        self._answer: TwiMLAnswer | None = None
        self._stream_sid = ""

    def initiated(self) -> None:
        self.call.line.status = "initiated"
        self._progress("initiated", "initiated")

    def ringing(self) -> None:
        self.call.line.status = "ringing"
        self._progress("ringing", "ringing")

    async def answered(self) -> StreamStart | None:
        self.call.line.status = "in-progress"
        self._progress("answered", "in-progress")
        try:
            self._answer = parse_twiml(
                self.call.params["Twiml"],
                call_sid=self.call.call_id,
                webhook_url=self._simulator.webhook_url,
                allow_insecure_ws=self._allow_insecure_ws,
            )
        except TwiMLError as exc:
            self.call.error = f"Twilio error 12100 (document parse failure): {exc}"
            return None
        return StreamStart(self._simulator, self._answer)

    def stream_opened(self, stream_id: str) -> None:
        self._stream_sid = stream_id
        self._stream_event("stream-started")

    def stream_closed(self, error: str | None) -> None:
        self._stream_event("stream-error" if error else "stream-stopped", error)

    def ended(self, outcome: Outcome) -> None:
        status = "completed" if outcome is Outcome.COMPLETED else str(outcome)
        self.call.line.status = status
        self._progress(
            "completed",
            status,
            CallDuration=str(self.call.duration_s),
            SipResponseCode=SIP_RESPONSE[outcome],
        )

    def _progress(self, event: str, status: str, **extra: str) -> None:
        """A call progress callback (``StatusCallbackEvent``), if one was asked for."""
        if self._status_url is None or event not in self._events:
            return
        call = self.call
        params = {
            "AccountSid": self._account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.call_id,
            "CallStatus": status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self._sequence),
            "Timestamp": format_datetime(datetime.now(UTC)),
            **extra,
        }
        self._sequence += 1
        url, method = self._status_url, self._status_method
        call.callbacks.post(Callback(status, lambda: self._signed(method, url, params)))

    def _stream_event(self, event: str, error: str | None = None) -> None:
        """A ``<Stream statusCallback>`` callback, if the TwiML asked for one."""
        answer = self._answer
        if answer is None or not answer.status_callback:
            return
        params = {
            "AccountSid": self._account_sid,
            "CallSid": self.call.call_id,
            "StreamSid": self._stream_sid,
            "StreamEvent": event,
            "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if answer.stream_name:
            params["StreamName"] = answer.stream_name
        if error:
            params["StreamError"] = error[:200]
        method = answer.stream_attributes.get("statusCallbackMethod", "POST").upper()
        url = answer.status_callback
        self.call.callbacks.post(Callback(event, lambda: self._signed(method, url, params)))

    def _signed(self, method: str, url: str, params: dict[str, str]) -> SignedRequest:
        """§5.1: a POST signs the URL and its form; a GET, the URL with the parameters in its query."""
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            return SignedRequest("GET", url, {SIGNATURE_HEADER: self._simulator.sign(url, {})})
        headers = {SIGNATURE_HEADER: self._simulator.sign(url, params), "Content-Type": FORM_CONTENT_TYPE}
        return SignedRequest("POST", url, headers, urlencode(params).encode())
