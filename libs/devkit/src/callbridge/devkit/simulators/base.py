"""What the four provider simulators share: the webhook request, opening the stream, running it, `place_call`.

A provider simulator says how its incoming-call webhook is signed and what its answer means
(`incoming_call`), and which wire format, codecs and quirks its stream has (`_stream_setup`); this base runs
the rest the same way for all: errors from the network become `SimulatorError`s with the status and body,
the stream runs in real time (session.py) and returns a `StreamRecording`.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypedDict, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.caller_audio import DEFAULT_FRAME_MS, AudioSource, caller_audio_for
from callbridge.devkit.simulators.errors import (
    StreamConnectError,
    WebhookRejectedError,
    WebhookUnreachableError,
)
from callbridge.devkit.simulators.phone_menu import MenuScript, PhoneMenu
from callbridge.devkit.simulators.recording import StreamRecording
from callbridge.devkit.simulators.session import StreamPlan, StreamSession
from callbridge.devkit.simulators.wire import StreamWire

__all__ = ["ProviderSimulator", "SimulatedCall", "SimulatorOptions", "StreamSetup"]

AnswerT = TypeVar("AnswerT")

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # the providers take outbound audio in large chunks; this caps a runaway
_DEADLINE_SLACK_S = 5.0


class SimulatorOptions(TypedDict, total=False):
    """The `ProviderSimulator` settings each provider's simulator passes through (see its ``__init__``)."""

    http_client: httpx.AsyncClient | None
    webhook_timeout_s: float
    open_timeout_s: float
    close_timeout_s: float
    allow_insecure_ws: bool
    ssl_context: ssl.SSLContext | None


@dataclass(frozen=True, slots=True)
class SimulatedCall(Generic[AnswerT]):
    """One complete simulated call: what the webhook answered and what the stream observed."""

    answer: AnswerT
    recording: StreamRecording


@dataclass(frozen=True, slots=True)
class StreamSetup:
    """How one provider stream is opened and run."""

    url: str
    headers: dict[str, str]
    wire: StreamWire
    inbound: AudioCodec
    outbound: AudioCodec
    frame_ms: int = DEFAULT_FRAME_MS
    injected: Sequence[tuple[float, dict[str, Any]]] = ()
    frame_delay: Callable[[int], int] | None = None


class ProviderSimulator(ABC, Generic[AnswerT]):
    """Places simulated inbound calls from one provider to one agent webhook."""

    user_agent: ClassVar[str] = "callbridge-simulator/1"
    dtmf_digits: ClassVar[frozenset[str]] = frozenset("0123456789*#")

    def __init__(
        self,
        webhook_url: str,
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
        local stack, which the real providers refuse. ``ssl_context`` verifies a ``wss://`` stream served
        with a local CA.
        """
        self.webhook_url = webhook_url
        self._http_client = http_client
        self._webhook_timeout_s = webhook_timeout_s
        self._open_timeout_s = open_timeout_s
        self._close_timeout_s = close_timeout_s
        self._allow_insecure_ws = allow_insecure_ws
        self._ssl_context = ssl_context

    @abstractmethod
    async def incoming_call(
        self, *, from_number: str, to_number: str, extra_params: Mapping[str, str] | None = None
    ) -> AnswerT:
        """Send the signed incoming-call webhook and parse the answer the stream is started from."""

    @abstractmethod
    def inbound_codec(self, answer: AnswerT) -> AudioCodec:
        """The format the caller's audio goes out in on this answer's stream (what `start` announces)."""

    @abstractmethod
    def _stream_setup(self, answer: AnswerT) -> StreamSetup: ...

    async def stream(
        self,
        answer: AnswerT,
        audio: AudioSource,
        *,
        dtmf: Sequence[tuple[float, str]] = (),
        hang_up_after_s: float | None = None,
        tail_s: float = 1.0,
        record_heard: bool = True,
        record_media_messages: bool = True,
        hang_up: asyncio.Event | None = None,
        on_open: Callable[[str], None] | None = None,
        phone_menu: MenuScript | None = None,
        out_of_band_keys: list[Callable[[str], None]] | None = None,
    ) -> StreamRecording:
        """Run the media stream the answer asked for, in real time, and return what was observed.

        The caller sends ``audio`` (PCM at ``inbound_codec(answer)``'s rate, a WAV file at that rate, or
        `CallerAudio` encoded for it) then ``tail_s`` of silence (providers send media for as long as the
        call is up), then hangs up; with ``hang_up_after_s`` the call lasts exactly that long instead,
        cutting or padding the audio. ``dtmf`` holds (seconds from stream start, digit) pairs. A server
        that closes the WebSocket first ends the call; that is recorded, not raised. Turn ``record_heard``
        and ``record_media_messages`` off to keep load tests lean. Setting ``hang_up`` ends the call at the
        next 20 ms tick, as the provider's REST API would (the simulated provider accounts, rest/);
        ``on_open`` is called with the stream's id once the WebSocket is open (when the provider reports the
        stream started). With ``phone_menu`` the caller is a phone menu: ``audio`` is its prompt, and it
        answers each key it hears in band in the server's audio (phone_menu.py; the keys are recorded in
        ``dtmf_heard``); with ``out_of_band_keys`` too (a simulated call's ``key_listeners``, rest/line.py),
        it answers the keys the provider's REST API sends as well.
        """
        setup = self._stream_setup(answer)
        caller_audio = caller_audio_for(audio, setup.inbound, setup.frame_ms)
        for at_s, digit in dtmf:
            if digit not in self.dtmf_digits or at_s < 0:
                digits = "".join(sorted(self.dtmf_digits))
                raise ValueError(f"invalid DTMF entry ({at_s!r}, {digit!r}): digits are {digits}")
        frame_s = caller_audio.frame_s
        if hang_up_after_s is not None:
            total_frames = math.ceil(hang_up_after_s / frame_s - 1e-9)
        else:
            total_frames = len(caller_audio.payloads) + math.ceil(max(tail_s, 0.0) / frame_s - 1e-9)
        menu = (
            None
            if phone_menu is None
            else PhoneMenu(phone_menu, setup.inbound, setup.frame_ms, setup.outbound)
        )
        plan = StreamPlan(
            audio=caller_audio,
            outbound=setup.outbound,
            total_frames=total_frames,
            deadline_s=total_frames * frame_s + self._close_timeout_s + _DEADLINE_SLACK_S,
            dtmf=dtmf,
            injected=setup.injected,
            frame_delay=setup.frame_delay,
            record_heard=record_heard,
            record_media_messages=record_media_messages,
            hang_up=hang_up,
            responder=menu,
        )
        if menu is not None and out_of_band_keys is not None:
            out_of_band_keys.append(menu.pressed)
        async with await self._open_stream(setup.url, setup.headers) as ws:
            if on_open is not None:
                on_open(setup.wire.stream_id)
            return await StreamSession(ws, setup.wire, plan).run()

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
    ) -> SimulatedCall[AnswerT]:
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

    async def _request_webhook(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> httpx.Response:
        """One webhook request; any answer but 200 raises WebhookRejectedError with its status and body."""
        all_headers = {"User-Agent": self.user_agent, **headers}
        try:
            if self._http_client is not None:
                response = await self._http_client.request(
                    method, url, content=content, headers=all_headers, timeout=self._webhook_timeout_s
                )
            else:
                async with httpx.AsyncClient(timeout=self._webhook_timeout_s) as client:
                    response = await client.request(method, url, content=content, headers=all_headers)
        except httpx.HTTPError as exc:
            raise WebhookUnreachableError(f"webhook {url} failed: {exc!r}") from exc
        if response.status_code != 200:
            raise WebhookRejectedError(url, response.status_code, response.text)
        return response

    async def _open_stream(self, url: str, headers: Mapping[str, str]) -> ClientConnection:
        tls: dict[str, Any] = {}
        if self._ssl_context is not None and url.startswith("wss://"):
            tls["ssl"] = self._ssl_context  # websockets refuses an ssl argument for ws:// URLs
        try:
            return await connect(
                url,
                additional_headers=dict(headers),
                user_agent_header=self.user_agent,
                open_timeout=self._open_timeout_s,
                close_timeout=self._close_timeout_s,
                # Real-time media every 20 ms already shows the peer is alive, and uncompressed frames keep
                # 200 concurrent calls cheap; the reference documents neither pings nor compression.
                ping_interval=None,
                compression=None,
                max_size=MAX_MESSAGE_BYTES,
                **tls,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StreamConnectError(f"could not open stream {url}: {exc!r}") from exc
