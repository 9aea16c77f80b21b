"""A Twilio stand-in: places simulated inbound calls to a callbridge deployment, no Twilio account needed.

It does what Twilio does on an incoming call to a number whose voice URL is the `webhooks` service
(/work/shared/reference/provider-protocols.md §1 and §5.1):

1. POSTs the signed incoming-call webhook (`X-Twilio-Signature`) and parses the TwiML answer (twiml.py);
2. opens the `<Connect><Stream>` WebSocket, its upgrade signed over the `wss://` URL (§1.5);
3. sends `connected`, `start`, then 20 ms `media` frames in real time from a WAV file or a generated signal,
   plus any `dtmf`, while playing the server's audio and echoing its marks as Twilio does (twilio_stream.py);
4. ends with `stop` (or records the server closing first) and returns a `StreamRecording`.

Typical use::

    simulator = TwilioSimulator("https://localhost:8000/twilio/voice", auth_token, account_sid)
    call = await simulator.place_call(tone(440.0, 2.0), from_number="+15550001111", to_number="+15550002222")
    delay = delay_samples(call.recording.sent_audio, call.recording.heard)
"""

from __future__ import annotations

import math
import os
import secrets
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from callbridge.devkit.signals import read_wav
from callbridge.devkit.simulators.errors import (
    StreamConnectError,
    WebhookRejectedError,
    WebhookUnreachableError,
)
from callbridge.devkit.simulators.recording import StreamRecording
from callbridge.devkit.simulators.twilio_stream import CallerAudio, TwilioStreamSession
from callbridge.devkit.simulators.twilio_wire import DTMF_DIGITS, FRAME_S, SAMPLE_RATE_HZ
from callbridge.devkit.simulators.twiml import TwiMLAnswer, parse_twiml

__all__ = ["CallerAudio", "SimulatedCall", "TwilioSimulator", "new_sid"]

TWILIO_API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "callbridge-twilio-simulator/1"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # §1.3 allows outbound audio "of any size"; this caps a runaway server
_DEADLINE_SLACK_S = 5.0

AudioSource = npt.NDArray[np.int16] | CallerAudio | str | os.PathLike[str]
"""int16 mono PCM at 8 kHz, audio already encoded with `CallerAudio.from_pcm`, or a WAV file at 8 kHz."""


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix (CA call, MZ stream, AC account) and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    """One complete simulated call: what the webhook answered and what the stream observed."""

    answer: TwiMLAnswer
    recording: StreamRecording


class TwilioSimulator:
    """Places simulated Twilio calls to one voice webhook, signed with one account's auth token."""

    def __init__(
        self,
        webhook_url: str,
        auth_token: str,
        account_sid: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        webhook_timeout_s: float = 10.0,
        open_timeout_s: float = 5.0,
        close_timeout_s: float = 2.0,
        allow_insecure_ws: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Set up a simulator; nothing is opened until a call is placed.

        ``http_client`` is borrowed (never closed), so many calls can share one pool, and carries any TLS
        settings for an ``https://`` webhook. ``allow_insecure_ws`` accepts a ``ws://`` stream URL from a
        local stack, which real Twilio refuses (error 31922). ``ssl_context`` verifies a ``wss://`` stream
        served with a local CA.
        """
        self.webhook_url = webhook_url
        self.account_sid = account_sid
        self._validator = RequestValidator(auth_token)
        self._http_client = http_client
        self._webhook_timeout_s = webhook_timeout_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._allow_insecure_ws = allow_insecure_ws
        self._ssl_context = ssl_context

    def incoming_call_params(
        self,
        *,
        call_sid: str,
        from_number: str,
        to_number: str,
        extra_params: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The form fields Twilio posts to the voice URL for a new inbound call (§1.4)."""
        params = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Caller": from_number,
            "Called": to_number,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": TWILIO_API_VERSION,
        }
        params.update(extra_params or {})
        return params

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """`X-Twilio-Signature` for a request to ``url`` with form ``params`` (§5.1), by the official SDK."""
        return str(self._validator.compute_signature(url, dict(params)))

    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> TwiMLAnswer:
        """POST the signed incoming-call webhook and parse its `<Connect><Stream>` TwiML.

        Raises WebhookUnreachableError, WebhookRejectedError (any status but 200, with status and body)
        or TwiMLError.
        """
        call_sid = new_sid("CA")
        params = self.incoming_call_params(
            call_sid=call_sid, from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        headers = {SIGNATURE_HEADER: self.sign(self.webhook_url, params), "User-Agent": USER_AGENT}
        try:
            if self._http_client is not None:
                response = await self._http_client.post(
                    self.webhook_url, data=params, headers=headers, timeout=self._webhook_timeout_s
                )
            else:
                async with httpx.AsyncClient(timeout=self._webhook_timeout_s) as client:
                    response = await client.post(self.webhook_url, data=params, headers=headers)
        except httpx.HTTPError as exc:
            raise WebhookUnreachableError(f"webhook {self.webhook_url} failed: {exc!r}") from exc
        if response.status_code != 200:
            raise WebhookRejectedError(self.webhook_url, response.status_code, response.text)
        return parse_twiml(
            response.text,
            call_sid=call_sid,
            webhook_url=self.webhook_url,
            allow_insecure_ws=self._allow_insecure_ws,
        )

    async def stream(
        self,
        answer: TwiMLAnswer,
        audio: AudioSource,
        *,
        dtmf: Sequence[tuple[float, str]] = (),
        hang_up_after_s: float | None = None,
        tail_s: float = 1.0,
        record_heard: bool = True,
        record_media_messages: bool = True,
    ) -> StreamRecording:
        """Run the media stream the TwiML asked for, in real time, and return what was observed.

        The caller sends ``audio`` then ``tail_s`` of silence (Twilio sends media for as long as the call is
        up), then `stop`; with ``hang_up_after_s`` the call lasts exactly that long instead, cutting or
        padding the audio. ``dtmf`` holds (seconds from stream start, digit) pairs. A server that closes the
        WebSocket first ends the call (§1.1); that is recorded, not raised. Turn ``record_heard`` and
        ``record_media_messages`` off to keep load tests lean.
        """
        caller_audio = _caller_audio(audio)
        for at_s, digit in dtmf:
            if digit not in DTMF_DIGITS or at_s < 0:
                raise ValueError(f"invalid DTMF entry ({at_s!r}, {digit!r}): digits are 0-9, * and #")
        if hang_up_after_s is not None:
            total_frames = math.ceil(hang_up_after_s / FRAME_S - 1e-9)
        else:
            total_frames = len(caller_audio.payloads) + math.ceil(max(tail_s, 0.0) / FRAME_S - 1e-9)

        headers = {SIGNATURE_HEADER: self.sign(answer.stream_url, {})}  # §1.5: the upgrade is signed too
        tls: dict[str, Any] = {}
        if self._ssl_context is not None and answer.stream_url.startswith("wss://"):
            tls["ssl"] = self._ssl_context  # websockets refuses an ssl argument for ws:// URLs
        try:
            ws = await connect(
                answer.stream_url,
                additional_headers=headers,
                user_agent_header=USER_AGENT,
                open_timeout=self._open_timeout_s,
                close_timeout=self._close_timeout_s,
                # Real-time media every 20 ms already shows the peer is alive, and uncompressed frames keep
                # 200 concurrent calls cheap; the protocol reference documents neither pings nor compression.
                ping_interval=None,
                compression=None,
                max_size=MAX_MESSAGE_BYTES,
                **tls,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StreamConnectError(f"could not open stream {answer.stream_url}: {exc!r}") from exc
        async with ws:
            session = TwilioStreamSession(
                ws,
                account_sid=self.account_sid,
                call_sid=answer.call_sid,
                stream_sid=new_sid("MZ"),
                custom_parameters=dict(answer.parameters),
                audio=caller_audio,
                total_frames=total_frames,
                dtmf=dtmf,
                deadline_s=total_frames * FRAME_S + self._close_timeout_s + _DEADLINE_SLACK_S,
                record_heard=record_heard,
                record_media_messages=record_media_messages,
            )
            return await session.run()

    async def place_call(
        self,
        audio: AudioSource,
        *,
        from_number: str = "+15005550006",
        to_number: str = "+15005550001",
        extra_params: Mapping[str, str] | None = None,
        dtmf: Sequence[tuple[float, str]] = (),
        hang_up_after_s: float | None = None,
        tail_s: float = 1.0,
        record_heard: bool = True,
        record_media_messages: bool = True,
    ) -> SimulatedCall:
        """`incoming_call` then `stream`: one whole simulated inbound call."""
        answer = await self.incoming_call(
            from_number=from_number, to_number=to_number, extra_params=extra_params
        )
        recording = await self.stream(
            answer,
            audio,
            dtmf=dtmf,
            hang_up_after_s=hang_up_after_s,
            tail_s=tail_s,
            record_heard=record_heard,
            record_media_messages=record_media_messages,
        )
        return SimulatedCall(answer=answer, recording=recording)


def _caller_audio(audio: AudioSource) -> CallerAudio:
    if isinstance(audio, CallerAudio):
        return audio
    if isinstance(audio, np.ndarray):
        return CallerAudio.from_pcm(audio)
    pcm, rate_hz = read_wav(audio)
    if rate_hz != SAMPLE_RATE_HZ:
        raise ValueError(
            f"{os.fspath(audio)}: WAV is {rate_hz} Hz; the simulator streams {SAMPLE_RATE_HZ} Hz"
        )
    return CallerAudio.from_pcm(pcm)
