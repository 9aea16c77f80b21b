"""An Exotel stand-in: simulated inbound calls reaching a Voicebot applet whose URL is callbridge.

What Exotel does (/work/shared/reference/provider-protocols.md §4 and §5.4):

1. requests the applet's dynamic URL (GET with the call in the query string, as Passthru does: §4.5; or a
   form POST) and reads the JSON answer ``{"url": "wss://…?sample-rate=16000"}`` (§4.1). Exotel signs
   nothing (§5.4): callbridge is reached with ``Authorization: Basic base64("exotel:" + secret)`` or with
   the secret as the URL's last path segment;
2. opens that URL and sends `connected`, `start`, then 16-bit little-endian PCM `media` at the URL's
   ``sample-rate`` (8000 when absent) every 20 ms (or 100 ms), plus any `dtmf`;
3. plays the bot's `media`, flagging chunks off §4.3's size rules, and echoes marks (exotel_wire.py);
4. ends with `stop` and returns a `StreamRecording`.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Unpack
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import orjson

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.base import (
    FORM_CONTENT_TYPE,
    ProviderSimulator,
    SimulatorOptions,
    StreamSetup,
)
from callbridge.devkit.simulators.errors import AnswerError
from callbridge.devkit.simulators.exotel_wire import (
    ExotelWire,
    MinChunkRule,
    SampleRateFormat,
    StreamSidPlacement,
)

__all__ = ["ExotelAnswer", "ExotelSimulator", "parse_exotel_answer"]

SAMPLE_RATES_HZ = frozenset({8000, 16000, 24000})  # §4.1 `?sample-rate=`
DEFAULT_SAMPLE_RATE_HZ = 8000
BASIC_AUTH_USER = "exotel"
WebhookAuth = Literal["basic", "path"]


@dataclass(frozen=True, slots=True)
class ExotelAnswer:
    """Where the Voicebot applet streams, at which rate, and the custom parameters it passes on."""

    call_sid: str
    from_number: str
    to_number: str
    stream_url: str
    """As answered, query string included: Exotel connects to it as it is."""
    sample_rate_hz: int
    custom_parameters: dict[str, str] = field(default_factory=dict)
    """The URL's query parameters other than ``sample-rate``, which `start.custom_parameters` carries."""
    body: str = ""


def parse_exotel_answer(
    body: str, *, call_sid: str, from_number: str, to_number: str, allow_insecure_ws: bool = False
) -> ExotelAnswer:
    """Parse ``{"url": "wss://…"}``; raises AnswerError for anything the applet could not stream to."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise AnswerError(f"Exotel answer is not JSON: {exc}") from exc
    url = document.get("url") if isinstance(document, dict) else None
    if not isinstance(url, str):
        raise AnswerError('Exotel answer must be a JSON object with a string "url"')
    parts = urlsplit(url)
    allowed = {"wss", "ws"} if allow_insecure_ws else {"wss"}
    if parts.scheme not in allowed or not parts.hostname:
        raise AnswerError(f"Exotel streams to a wss:// URL with a host, got {url!r}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    rate_text = query.pop("sample-rate", str(DEFAULT_SAMPLE_RATE_HZ))
    if not rate_text.isdigit() or int(rate_text) not in SAMPLE_RATES_HZ:
        raise AnswerError(f"sample-rate={rate_text!r}: Exotel streams at 8000, 16000 or 24000 Hz")
    return ExotelAnswer(
        call_sid=call_sid,
        from_number=from_number,
        to_number=to_number,
        stream_url=url,
        sample_rate_hz=int(rate_text),
        custom_parameters=query,
        body=body,
    )


class ExotelSimulator(ProviderSimulator[ExotelAnswer]):
    """Places simulated Exotel calls to one agent URL, authenticated with one shared secret."""

    user_agent = "callbridge-exotel-simulator/1"

    def __init__(
        self,
        webhook_url: str,
        webhook_secret: str,
        *,
        auth: WebhookAuth = "basic",
        method: Literal["GET", "POST"] = "GET",
        account_sid: str = "callbridge-simulated",
        inbound_frame_ms: Literal[20, 100] = 20,
        stream_sid_placement: StreamSidPlacement = "both",
        sample_rate_format: SampleRateFormat = "plain",
        echo_marks_on_clear: bool = True,
        min_chunk_rule: MinChunkRule = "documented",
        **options: Unpack[SimulatorOptions],
    ) -> None:
        """Set up a simulator; nothing is opened until a call is placed (see `ProviderSimulator`).

        ``auth`` sends ``webhook_secret`` as Basic auth (user ``exotel``) or as a last path segment
        appended to ``webhook_url``. ``inbound_frame_ms`` is the caller's chunk length: §4.2 documents both
        20 ms and ~100 ms. ``stream_sid_placement`` puts `stream_sid` at the top level of every message,
        only inside `start`, or both; ``sample_rate_format`` writes "16000" or "16000Hz" (§4.2).
        ``echo_marks_on_clear`` answers pending marks on `clear` as Twilio does; off, they are dropped
        (§7.3: undocumented). ``min_chunk_rule`` reads §4.3's self-contradicting minimum chunk size
        (exotel_wire.py): "documented" (3200 bytes and 100 ms) or "scaled" (3200 bytes per 8 kHz).
        """
        super().__init__(webhook_url, **options)
        self._secret = webhook_secret
        self._auth = auth
        self._method = method
        self.account_sid = account_sid
        self._frame_ms = inbound_frame_ms
        self._placement = stream_sid_placement
        self._sample_rate_format = sample_rate_format
        self._echo_marks_on_clear = echo_marks_on_clear
        self._min_chunk_rule = min_chunk_rule

    def request_url(self) -> str:
        """The URL Exotel requests: the webhook URL, with the secret as its last path segment for "path"."""
        if self._auth == "basic":
            return self.webhook_url
        parts = urlsplit(self.webhook_url)
        path = f"{parts.path.rstrip('/')}/{quote(self._secret, safe='')}"
        return parts._replace(path=path).geturl()

    def incoming_call_params(
        self,
        *,
        call_sid: str,
        from_number: str,
        to_number: str,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The call details Exotel passes (§4.5), under the callbridge webhook contract's names."""
        params = {
            "CallSid": call_sid,
            "CallFrom": from_number,
            "CallTo": to_number,
            "Direction": "incoming",
            "CallStatus": "in-progress",  # the flow reaches the Voicebot applet on an answered call
        }
        params.update(extra_params or {})
        return params

    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> ExotelAnswer:
        """Request the agent URL and parse its JSON answer; raises Webhook*Error or AnswerError."""
        call_sid = secrets.token_hex(16)
        params = self.incoming_call_params(
            call_sid=call_sid, from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        headers: dict[str, str] = {}
        if self._auth == "basic":
            token = base64.b64encode(f"{BASIC_AUTH_USER}:{self._secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        url, body = self.request_url(), urlencode(params)
        if self._method == "GET":
            url = f"{url}{'&' if urlsplit(url).query else '?'}{body}"
            response = await self._request_webhook("GET", url, headers=headers)
        else:
            headers["Content-Type"] = FORM_CONTENT_TYPE
            response = await self._request_webhook("POST", url, headers=headers, content=body.encode())
        return parse_exotel_answer(
            response.text,
            call_sid=call_sid,
            from_number=from_number,
            to_number=to_number,
            allow_insecure_ws=self._allow_insecure_ws,
        )

    def inbound_codec(self, answer: ExotelAnswer) -> AudioCodec:
        return AudioCodec("L16", answer.sample_rate_hz, "little")  # §4.4: PCM16 LE, both ways

    def _stream_setup(self, answer: ExotelAnswer) -> StreamSetup:
        codec = self.inbound_codec(answer)
        wire = ExotelWire(
            call_sid=answer.call_sid,
            stream_sid=secrets.token_hex(16),
            account_sid=self.account_sid,
            from_number=answer.from_number,
            to_number=answer.to_number,
            custom_parameters=dict(answer.custom_parameters),
            codec=codec,
            frame_ms=self._frame_ms,
            stream_sid_placement=self._placement,
            sample_rate_format=self._sample_rate_format,
            echo_marks_on_clear=self._echo_marks_on_clear,
            min_chunk_rule=self._min_chunk_rule,
        )
        return StreamSetup(
            answer.stream_url, {}, wire, inbound=codec, outbound=codec, frame_ms=self._frame_ms
        )
