"""A Plivo stand-in: simulated inbound calls whose answer URL starts a bidirectional `<Stream>`.

What Plivo does on an incoming call to a number whose answer URL is callbridge
(/work/shared/reference/provider-protocols.md §3 and §5.3):

1. POSTs the answer-URL request signed with `X-Plivo-Signature-V3` (HMAC-SHA256 over the V3 base string and
   a nonce) and parses the `<Stream>` XML (plivo_xml.py);
2. opens the stream and sends `start` (no `connected`), then `media` every 20 ms and any `dtmf`;
3. plays `playAudio` (flagging a contentType or rate that does not match the stream), answers `checkpoint`
   with `playedStream` once its audio has played, and `clearAudio` with `clearedAudio` (plivo_wire.py);
4. ends with `stop` (or just closes) and returns a `StreamRecording`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Unpack
from urllib.parse import parse_qs, urlencode, urlsplit

from callbridge.devkit.simulators.audio_codec import PCMU_8K, AudioCodec
from callbridge.devkit.simulators.base import (
    FORM_CONTENT_TYPE,
    ProviderSimulator,
    SimulatorOptions,
    StreamSetup,
)
from callbridge.devkit.simulators.plivo_wire import PlayedEvent, PlivoWire, new_stream_id
from callbridge.devkit.simulators.plivo_xml import PlivoAnswer, parse_plivo_xml

__all__ = ["PlivoAnswer", "PlivoSimulator", "v3_base_string", "v3_signature"]

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
_NONCE_DIGITS = 20  # the shape of the nonces in Plivo's examples (§5.3: "05429567804466091622")

ParamValue = str | Sequence[str]


def _sorted_query(params: Mapping[str, ParamValue]) -> str:
    # §5.3: keys sorted, k=v joined by &; a list value gives k=v1&k=v2 with its values sorted.
    pairs: list[str] = []
    for key in sorted(params):
        value = params[key]
        values = [value] if isinstance(value, str) else sorted(value)
        pairs.extend(f"{key}={item}" for item in values)
    return "&".join(pairs)


def _sorted_params(params: Mapping[str, ParamValue]) -> str:
    # §5.3: POST parameters sorted by key as key+value with no separators (list values sorted).
    parts: list[str] = []
    for key in sorted(params):
        value = params[key]
        values = [value] if isinstance(value, str) else sorted(value)
        parts.extend(f"{key}{item}" for item in values)
    return "".join(parts)


def v3_base_string(method: str, url: str, params: Mapping[str, ParamValue]) -> str:
    """The string Plivo's V3 signature is computed over (§5.3, plivo-python `signature_v3.py`).

    POST: ``scheme://netloc/path``, then ``?`` if there are parameters or a query string, the URL's query
    re-sorted, ``.`` if there are both, then the parameters as sorted ``key+value``. GET: the URL's query
    merged with ``params`` (the URL's values win), as one sorted query string. Query values are the decoded
    ones, as ``parse_qs`` gives them.
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query: dict[str, ParamValue] = dict(parse_qs(parts.query, keep_blank_values=True))
    if method.upper() == "GET":
        merged_query = _sorted_query({**params, **query})
        return f"{base}?{merged_query}" if merged_query else base
    sorted_query = _sorted_query(query)
    if sorted_query or params:
        base += "?" + sorted_query
    if sorted_query and params:
        base += "."
    return base + _sorted_params(params)


def v3_signature(auth_token: str, base_string: str, nonce: str) -> str:
    """`X-Plivo-Signature-V3`: base64 HMAC-SHA256 of ``base_string + "." + nonce`` under the auth token."""
    digest = hmac.new(auth_token.encode(), f"{base_string}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class PlivoSimulator(ProviderSimulator[PlivoAnswer]):
    """Places simulated Plivo calls to one answer URL, signed with one account's auth ID and token."""

    user_agent = "callbridge-plivo-simulator/1"

    def __init__(
        self,
        webhook_url: str,
        auth_id: str,
        auth_token: str,
        *,
        played_event: PlayedEvent = "playedStream",
        send_stop: bool = True,
        stop_reason: str = "hangup",
        **options: Unpack[SimulatorOptions],
    ) -> None:
        """Set up a simulator; nothing is opened until a call is placed (see `ProviderSimulator`).

        ``played_event`` names the checkpoint answer: `playedStream` (docs and SDKs) or `played` (the
        support FAQ), §3.2. Plivo does not document a `stop` over the WebSocket (the Java SDK handles one
        with a ``reason``); ``send_stop=False`` just closes the socket at the end of the call.
        """
        super().__init__(webhook_url, **options)
        self.auth_id = auth_id
        self._auth_token = auth_token
        self._played_event = played_event
        self._stop_reason = stop_reason if send_stop else None

    def sign(self, url: str, params: Mapping[str, ParamValue], nonce: str, method: str = "POST") -> str:
        """`X-Plivo-Signature-V3` for a request to ``url`` with ``params`` and ``nonce`` (§5.3)."""
        return v3_signature(self._auth_token, v3_base_string(method, url, params), nonce)

    def incoming_call_params(
        self,
        *,
        call_uuid: str,
        from_number: str,
        to_number: str,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The answer-URL form fields for a new inbound call (§3.5, the callbridge webhook contract)."""
        params = {
            "CallUUID": call_uuid,
            "From": from_number,
            "To": to_number,
            "Direction": "inbound",
            "CallStatus": "ringing",
            "Event": "StartApp",
        }
        params.update(extra_params or {})
        return params

    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> PlivoAnswer:
        """POST the signed answer-URL request and parse its `<Stream>` (raises Webhook*Error, AnswerError)."""
        call_uuid = str(uuid.uuid4())
        params = self.incoming_call_params(
            call_uuid=call_uuid, from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        nonce = "".join(secrets.choice("0123456789") for _ in range(_NONCE_DIGITS))
        headers = {
            SIGNATURE_HEADER: self.sign(self.webhook_url, params, nonce),
            NONCE_HEADER: nonce,
            "Content-Type": FORM_CONTENT_TYPE,
        }
        response = await self._request_webhook(
            "POST", self.webhook_url, headers=headers, content=urlencode(params).encode()
        )
        return parse_plivo_xml(
            response.text,
            call_uuid=call_uuid,
            webhook_url=self.webhook_url,
            allow_insecure_ws=self._allow_insecure_ws,
        )

    def inbound_codec(self, answer: PlivoAnswer) -> AudioCodec:
        if answer.encoding == "audio/x-mulaw":
            return PCMU_8K
        return AudioCodec("L16", answer.sample_rate_hz, "little")  # §3.4: little-endian in practice

    def _stream_setup(self, answer: PlivoAnswer) -> StreamSetup:
        codec = self.inbound_codec(answer)  # `contentType` sets both directions (§3.1, §3.3)
        wire = PlivoWire(
            call_uuid=answer.call_uuid,
            stream_id=new_stream_id(),
            account_id=self.auth_id,
            encoding=answer.encoding,
            codec=codec,
            frame_ms=20,
            extra_headers=answer.extra_headers,
            played_event=self._played_event,
            stop_reason=self._stop_reason,
        )
        return StreamSetup(answer.stream_url, {}, wire, inbound=codec, outbound=codec)
