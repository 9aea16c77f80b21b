"""Telnyx's outbound calls on the simulated account: Call Control's dial (reference §2.4, §2.1, §5.2).

``POST /v2/calls`` (JSON, ``Authorization: Bearer``) with ``connection_id``, ``from``, ``to`` and the stream
fields answers 200 ``{"data": {"call_control_id", "call_leg_id", "call_session_id", "is_alive": false,
"record_type": "call"}}``. A repeated ``command_id`` places no second call: the first call's data is answered
again. The call's webhooks go to ``webhook_url``, JSON ``{"data": {"event_type", "id", "occurred_at",
"payload", "record_type": "event"}, "meta"}`` signed with ed25519 (``telnyx-signature-ed25519`` over
``timestamp|body``, ``telnyx-timestamp``): ``call.initiated``, then ``call.answered``, ``streaming.started``
and ``streaming.stopped`` (``streaming.failed`` when the stream cannot be opened), and ``call.hangup`` with
its ``hangup_cause`` (``normal_clearing``, ``user_busy``, ``timeout`` for a ring timeout, ``not_found``,
``originator_cancel``). Call Control sends no ringing event. On answer the stream opens to ``stream_url``
with the dial's codecs; when the server closes it the call stays up (``streaming.stopped`` only) until it is
hung up or the callee hangs up.

Errors are Telnyx's ``{"errors": [{"code", "title", "detail", "source"?}]}``: 422 with 10004 (a missing
field), 10016 (a number not in +E.164), 10015 (anything else); 429 with 10011 and ``x-ratelimit-*`` headers.
The simulator streams in RTP mode only, with the codecs it can encode (PCMU, PCMA, L16): a dial asking for
MP3 mode or another codec is refused with 10015, saying so.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from callbridge.devkit.simulators.audio_codec import encoding_named
from callbridge.devkit.simulators.rest.callbacks import Callback, SignedRequest
from callbridge.devkit.simulators.rest.outbound import CallFlow, OutboundCall, Outcome, StreamStart
from callbridge.devkit.simulators.telnyx import SIGNATURE_HEADER, TIMESTAMP_HEADER, TelnyxSimulator
from callbridge.devkit.simulators.texml import RTP_RATES_HZ, TeXMLAnswer

if TYPE_CHECKING:
    from callbridge.devkit.simulators.rest.telnyx import TelnyxRestApi

__all__ = ["TelnyxCallFlow", "dial"]

DEFAULT_TIMEOUT_S = 30  # Telnyx's timeout_secs when the dial gives none
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 5, 600
MISSING, BAD_REQUEST, TOO_MANY_REQUESTS, NOT_E164 = "10004", "10015", "10011", "10016"
RATE_LIMIT = 100
"""What the 429's ``x-ratelimit-limit`` says (requests per window; the simulated account has no real one)."""
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
HANGUP = {
    Outcome.COMPLETED: ("normal_clearing", "16"),
    Outcome.BUSY: ("user_busy", "486"),
    Outcome.NO_ANSWER: ("timeout", "487"),
    Outcome.FAILED: ("not_found", "404"),
    Outcome.CANCELED: ("originator_cancel", "487"),
}


async def dial(api: TelnyxRestApi, request: Request) -> JSONResponse:
    if not await api.received(request, api.ACCOUNT):
        return api.unauthorized()
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return api.error(400, BAD_REQUEST, "Bad Request", "The request body is not a JSON object.")
    for name in ("connection_id", "from", "to"):
        if not isinstance(body.get(name), str) or not body[name]:
            return api.error(
                422, MISSING, "Missing required parameter", f"The '{name}' parameter is required.", name
            )
    if api.connection_id is not None and body["connection_id"] != api.connection_id:
        detail = "connection_id is not a Call Control application of this account."
        return api.error(422, BAD_REQUEST, "Bad Request", detail, "connection_id")
    for name in ("from", "to"):
        if not _E164.match(body[name]):
            detail = f"The '{name}' parameter must be in +E.164 format."
            return api.error(422, NOT_E164, "Phone number must be in +E.164 format", detail, name)
    problem = _stream_problem(body, api.outbound.allow_insecure_ws) or _timeout_problem(body)
    if problem is not None:
        return api.error(422, BAD_REQUEST, "Bad Request", problem[1], problem[0])
    command_id = body.get("command_id")
    if isinstance(command_id, str) and command_id in api.commands:
        return JSONResponse({"data": api.commands[command_id]})  # Telnyx ignores a repeated command
    behaviour = api.outbound.script.behaviour_for(body["to"])
    if behaviour.kind == "rate_limited":
        reset_s = 1 if behaviour.retry_after_s is None else behaviour.retry_after_s
        headers = {"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-remaining": "0"}
        headers["x-ratelimit-reset"] = f"{reset_s:g}"
        detail = "You have exceeded the maximum number of allowed requests."
        return api.error(429, TOO_MANY_REQUESTS, "Too many requests", detail, headers=headers)
    call_control_id = "v3:" + secrets.token_urlsafe(32)
    data: dict[str, Any] = {
        "call_control_id": call_control_id,
        "call_leg_id": str(uuid.uuid4()),
        "call_session_id": str(uuid.uuid4()),
        "is_alive": False,  # §2.4: dialing is asynchronous
        "record_type": "call",
    }
    if isinstance(body.get("client_state"), str):
        data["client_state"] = body["client_state"]
    if isinstance(command_id, str):
        api.commands[command_id] = data
    call = OutboundCall(
        provider=api.name,
        call_id=call_control_id,
        to=body["to"],
        from_=body["from"],
        behaviour=behaviour,
        params=body,
        line=api.add_call(call_control_id),
        callbacks=api.outbound.sender(call_control_id),
    )
    api.outbound.start(TelnyxCallFlow(call, api, data))
    return JSONResponse({"data": data})


def _stream_problem(body: dict[str, Any], allow_insecure_ws: bool) -> tuple[str, str] | None:
    """(field, why) for stream fields the simulator cannot run (§2.1's RTP pairs), else None."""
    if "stream_url" not in body:
        return None
    url = body["stream_url"]
    allowed = ("wss://", "ws://") if allow_insecure_ws else ("wss://",)
    if not isinstance(url, str) or not url.startswith(allowed):
        return "stream_url", "stream_url must be a wss:// URL."
    mode = body.get("stream_bidirectional_mode", "mp3")
    if mode != "rtp":
        return "stream_bidirectional_mode", (
            f"bidirectional mode {mode!r}: Telnyx would play only MP3 and silently ignore raw audio; the "
            "simulator streams in rtp mode only"
        )
    if body.get("stream_track", "inbound_track") != "inbound_track":
        return "stream_track", "the simulator streams the callee only (inbound_track)"
    codec = body.get("stream_codec", "default")
    if codec != "default" and codec not in RTP_RATES_HZ:
        return "stream_codec", "the simulator sends PCMU, PCMA, L16 or the call's codec (default)"
    outbound = body.get("stream_bidirectional_codec", "PCMU")
    rate = body.get("stream_bidirectional_sampling_rate", 8000)
    if outbound not in RTP_RATES_HZ or rate not in RTP_RATES_HZ[outbound]:
        return "stream_bidirectional_codec", (
            f"{outbound} at {rate} Hz: the simulator plays PCMU or PCMA at 8000 Hz and L16 at 16000 Hz, "
            "as Telnyx documents them"
        )
    return None


def _timeout_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    timeout = body.get("timeout_secs", DEFAULT_TIMEOUT_S)
    if (
        not isinstance(timeout, int)
        or isinstance(timeout, bool)
        or not MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S
    ):
        return "timeout_secs", f"timeout_secs must be from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds."
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class TelnyxCallFlow(CallFlow):
    ends_with_stream = False  # Call Control: a stream that stops leaves the call up until it is hung up

    def __init__(self, call: OutboundCall, api: TelnyxRestApi, data: dict[str, Any]) -> None:
        super().__init__(call, float(call.params.get("timeout_secs", DEFAULT_TIMEOUT_S)))
        self._data = data
        self._webhook_url = (
            call.params.get("webhook_url") if isinstance(call.params.get("webhook_url"), str) else None
        )
        self._connection_id = call.params["connection_id"]
        self._simulator = TelnyxSimulator(
            self._webhook_url or f"{api.base_url}/",
            private_key=api.private_key,
            **api.outbound.stream_options(),
        )
        self._start_time = _now()
        self._stream_id = ""

    def initiated(self) -> None:
        self._event("call.initiated", direction="outgoing", state="bridging", start_time=self._start_time)

    def ringing(self) -> None:
        pass  # Call Control has no ringing event for an outbound leg

    async def answered(self) -> StreamStart | None:
        self._event("call.answered", state="answered", start_time=self._start_time)
        params = self.call.params
        if "stream_url" not in params:
            return None  # nothing to stream: the call is up without media
        codec = params.get("stream_codec", "default")
        outbound = encoding_named(params.get("stream_bidirectional_codec", "PCMU"))
        assert outbound is not None  # checked when the dial was accepted
        answer = TeXMLAnswer(
            call_sid=self.call.call_id,
            from_number=self.call.from_,
            to_number=self.call.to,
            stream_url=params["stream_url"],  # checked when the dial was accepted
            parameters={},
            codec=codec,
            bidirectional_codec=outbound,
            bidirectional_rate_hz=int(params.get("stream_bidirectional_sampling_rate", 8000)),
            hangup_follows=False,
            verbs_after_connect=(),
            texml="",
        )
        return StreamStart(self._simulator, answer)

    def stream_opened(self, stream_id: str) -> None:
        self._stream_id = stream_id
        self._event("streaming.started", stream_url=self.call.params.get("stream_url"))

    def stream_closed(self, error: str | None) -> None:
        if error is None:
            self._event("streaming.stopped", stream_url=self.call.params.get("stream_url"))
            return
        self._event(
            "streaming.failed",
            failure_reason=error[:200],
            stream_id=self._stream_id,
            stream_params={"stream_url": self.call.params.get("stream_url"), "track": "inbound_track"},
            stream_type="websocket",
        )

    def ended(self, outcome: Outcome) -> None:
        self.call.line.status = "ended"
        cause, sip_cause = HANGUP[outcome]
        source = {"callee": "callee", "api": "caller", "stream": "caller"}.get(self.call.hung_up_by or "")
        if outcome in (Outcome.BUSY, Outcome.FAILED):
            source = "callee"
        self._event(
            "call.hangup",
            hangup_cause=cause,
            hangup_source=source or "unknown",
            sip_hangup_cause=sip_cause,
            start_time=self._start_time,
            end_time=_now(),
            state="hangup",
        )

    def _event(self, event_type: str, **payload: Any) -> None:
        if self._webhook_url is None:
            return  # Telnyx would use the application's webhook URL, which the simulated account lacks
        call = self.call
        body = {
            "data": {
                "event_type": event_type,
                "id": str(uuid.uuid4()),
                "occurred_at": _now(),
                "payload": {
                    "call_control_id": call.call_id,
                    "call_leg_id": self._data["call_leg_id"],
                    "call_session_id": self._data["call_session_id"],
                    "client_state": self._data.get("client_state"),
                    "connection_id": self._connection_id,
                    "from": call.from_,
                    "to": call.to,
                    **payload,
                },
                "record_type": "event",
            },
            "meta": {"attempt": 1, "delivered_to": self._webhook_url},
        }
        url = self._webhook_url
        call.callbacks.post(Callback(event_type, lambda: self._signed(url, body)))

    def _signed(self, url: str, body: dict[str, Any]) -> SignedRequest:
        """§5.2: ed25519 over ``timestamp|body``, the timestamp taken when it is sent."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            SIGNATURE_HEADER: self._simulator.sign(timestamp, raw),
            TIMESTAMP_HEADER: str(timestamp),
            "Content-Type": "application/json",
        }
        return SignedRequest("POST", url, headers, raw)
