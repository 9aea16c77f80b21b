"""Plivo's outbound calls on the simulated account (reference §3.5, §3.1, §5.3).

``POST /v1/Account/{auth_id}/Call/`` (JSON, as the SDK sends it, or a form; HTTP Basic) with ``from``, ``to``
and ``answer_url`` answers 201 ``{"api_id", "message": "call fired", "request_uuid"}``: the call's UUID is
first told in its requests. The call posts to ``ring_url`` when it rings (``CallStatus=ringing``), requests
``answer_url`` on answer (``Event=StartApp``, ``CallStatus=in-progress``) and runs the ``<Stream>`` XML it
answers (parsed as an incoming call's), posts ``StartStream``/``StopStream`` to the stream's
``statusCallbackUrl``, and on hang-up posts ``hangup_url`` (``Event=Hangup``, ``CallStatus`` completed,
busy, no-answer, failed or cancel, ``HangupCause`` as the standard telephony cause, ``HangupSource``,
``Duration``, ``BillDuration``). Every request carries ``CallUUID``, ``RequestUUID``, ``ALegUUID``,
``ALegRequestUUID``, ``From``, ``To`` (numbers without ``+``, as Plivo writes them) and
``Direction=outbound``, signed with ``X-Plivo-Signature-V3`` and its nonce.

When the stream ends, ``keepCallAlive`` XML has nothing more to run and the call hangs up. An answer URL that
fails (not 200, not reachable) or XML the simulator cannot run ends the answered call (Plivo would try
``fallback_url``, which the simulator does not). ``HangupCauseName``/``HangupCauseCode`` (Plivo's own codes)
are left out: its documents list the codes but not every name they go with.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from callbridge.devkit.simulators.base import FORM_CONTENT_TYPE
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.plivo import NONCE_HEADER, SIGNATURE_HEADER, PlivoSimulator
from callbridge.devkit.simulators.plivo_xml import PlivoAnswer, parse_plivo_xml
from callbridge.devkit.simulators.rest.callbacks import Callback, SignedRequest
from callbridge.devkit.simulators.rest.outbound import CallFlow, OutboundCall, Outcome, StreamStart

if TYPE_CHECKING:
    from callbridge.devkit.simulators.rest.plivo import PlivoRestApi

__all__ = ["PlivoCallFlow", "dial"]

DEFAULT_RING_TIMEOUT_S = 60
MAX_RING_TIMEOUT_S = 120
_NONCE_DIGITS = 20
_ANSWER_EXCERPT_CHARS = 200
STATUS = {
    Outcome.COMPLETED: "completed",
    Outcome.BUSY: "busy",
    Outcome.NO_ANSWER: "no-answer",
    Outcome.FAILED: "failed",
    Outcome.CANCELED: "cancel",
}
CAUSE = {
    Outcome.COMPLETED: "NORMAL_CLEARING",
    Outcome.BUSY: "USER_BUSY",
    Outcome.NO_ANSWER: "NO_ANSWER",
    Outcome.FAILED: "UNALLOCATED_NUMBER",
    Outcome.CANCELED: "ORIGINATOR_CANCEL",
}
SOURCE = {"callee": "Call recipient", "api": "API Request", "stream": "Plivo"}


async def dial(api: PlivoRestApi, request: Request) -> JSONResponse:
    if not await api.received(request, request.path_params["auth_id"]):
        return api.error(401, "authentication failed")
    raw = await request.body()
    fields: dict[str, Any]
    if request.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
        fields = dict(parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
    else:
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            return api.error(400, "the request body is neither JSON nor a form")
        fields = document
    missing = [
        name
        for name in ("from", "to", "answer_url")
        if not isinstance(fields.get(name), str) or not fields[name]
    ]
    if missing:
        return api.error(400, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    ring_timeout = str(fields.get("ring_timeout", DEFAULT_RING_TIMEOUT_S))
    if not ring_timeout.isdigit() or not 1 <= int(ring_timeout) <= MAX_RING_TIMEOUT_S:
        return api.error(400, f"ring_timeout must be from 1 to {MAX_RING_TIMEOUT_S} seconds")
    behaviour = api.outbound.script.behaviour_for(fields["to"])
    if behaviour.kind == "rate_limited":
        headers = {} if behaviour.retry_after_s is None else {"Retry-After": f"{behaviour.retry_after_s:g}"}
        return api.error(429, "too many requests", headers)
    request_uuid, call_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    call = OutboundCall(
        provider=api.name,
        call_id=call_uuid,
        to=fields["to"],
        from_=fields["from"],
        behaviour=behaviour,
        params=fields,
        line=api.add_call(call_uuid, status="queued"),
        callbacks=api.outbound.sender(call_uuid),
        request_id=request_uuid,
    )
    api.outbound.start(PlivoCallFlow(call, api, float(ring_timeout)))
    body = {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": request_uuid}
    return JSONResponse(body, status_code=201)


def _digits(number: str) -> str:
    return number.removeprefix("+")


def _time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class PlivoCallFlow(CallFlow):
    def __init__(self, call: OutboundCall, api: PlivoRestApi, ring_timeout_s: float) -> None:
        super().__init__(call, ring_timeout_s)
        self._allow_insecure_ws = api.outbound.allow_insecure_ws
        self._http = api.outbound.http
        self._timeout_s = api.outbound.callback_timeout_s
        self._simulator = PlivoSimulator(
            call.params["answer_url"], api.auth_id, api.auth_token, **api.outbound.stream_options()
        )
        self._answer: PlivoAnswer | None = None
        self._stream_id = ""
        self._start_time = _time()
        self._answer_time = ""

    def initiated(self) -> None:
        pass  # Plivo posts nothing until the call rings

    def ringing(self) -> None:
        self.call.line.status = "ringing"
        self._post("ringing", "ring_url", CallStatus="ringing")

    async def answered(self) -> StreamStart | None:
        call = self.call
        call.line.status = "in-progress"
        self._answer_time = _time()
        method = str(call.params.get("answer_method", "POST")).upper()
        request = self._signed(
            method, call.params["answer_url"], self._fields(CallStatus="in-progress", Event="StartApp")
        )
        try:
            response = await self._http.request(
                request.method,
                request.url,
                headers=request.headers,
                content=request.body or None,
                timeout=self._timeout_s,
            )
        except httpx.HTTPError as exc:
            call.error = f"answer_url could not be reached: {type(exc).__name__}: {exc}"
            return None
        if response.status_code != 200:
            call.error = (
                f"answer_url answered HTTP {response.status_code}: {response.text[:_ANSWER_EXCERPT_CHARS]!r}"
            )
            return None
        try:
            self._answer = parse_plivo_xml(
                response.text,
                call_uuid=call.call_id,
                webhook_url=request.url,
                allow_insecure_ws=self._allow_insecure_ws,
            )
        except AnswerError as exc:
            call.error = f"answer_url's XML cannot be run: {exc}"
            return None
        return StreamStart(self._simulator, self._answer)

    def stream_opened(self, stream_id: str) -> None:
        self._stream_id = stream_id
        self._stream_event("StartStream")

    def stream_closed(self, error: str | None) -> None:
        self._stream_event("DroppedStream" if error else "StopStream", error)

    def ended(self, outcome: Outcome) -> None:
        call = self.call
        status = STATUS[outcome]
        call.line.status = status
        if outcome is Outcome.COMPLETED:
            source = SOURCE.get(call.hung_up_by or "", "Unknown")
        else:
            source = "API Request" if outcome is Outcome.CANCELED else "Carrier"
        self._post(
            f"Hangup {status}",
            "hangup_url",
            CallStatus=status,
            Event="Hangup",
            HangupCause=CAUSE[outcome],
            HangupSource=source,
            Duration=str(call.duration_s),
            BillDuration=str(call.duration_s),
            StartTime=self._start_time,
            AnswerTime=self._answer_time,
            EndTime=_time(),
        )

    def _fields(self, **extra: str) -> dict[str, str]:
        call = self.call
        request_uuid = call.request_id or ""
        return {
            "CallUUID": call.call_id,
            "RequestUUID": request_uuid,
            "ALegUUID": call.call_id,
            "ALegRequestUUID": request_uuid,
            "From": _digits(call.from_),
            "To": _digits(call.to),
            "Direction": "outbound",
            **extra,
        }

    def _post(self, event: str, url_field: str, **extra: str) -> None:
        url = self.call.params.get(url_field)
        if not isinstance(url, str) or not url:
            return
        method = str(self.call.params.get(url_field.replace("_url", "_method"), "POST")).upper()
        fields = self._fields(**extra)
        self.call.callbacks.post(Callback(event, lambda: self._signed(method, url, fields)))

    def _stream_event(self, event: str, error: str | None = None) -> None:
        answer = self._answer
        if answer is None or not answer.status_callback_url:
            return
        fields = {
            "Event": event,
            "CallUUID": self.call.call_id,
            "StreamID": self._stream_id,
            "Timestamp": _time(),
        }
        if error:
            fields["Error"] = error[:200]
        method = answer.stream_attributes.get("statusCallbackMethod", "POST").upper()
        url = answer.status_callback_url
        self.call.callbacks.post(Callback(event, lambda: self._signed(method, url, fields)))

    def _signed(self, method: str, url: str, fields: dict[str, str]) -> SignedRequest:
        """§5.3: V3 over the URL and the fields (a GET's in its query), with a fresh nonce."""
        nonce = "".join(secrets.choice("0123456789") for _ in range(_NONCE_DIGITS))
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}"
            signature = self._simulator.sign(url, {}, nonce, method="GET")
            return SignedRequest("GET", url, {SIGNATURE_HEADER: signature, NONCE_HEADER: nonce})
        headers = {
            SIGNATURE_HEADER: self._simulator.sign(url, fields, nonce),
            NONCE_HEADER: nonce,
            "Content-Type": FORM_CONTENT_TYPE,
        }
        return SignedRequest("POST", url, headers, urlencode(fields).encode())
