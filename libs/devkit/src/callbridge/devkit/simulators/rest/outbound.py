"""An outbound call on a simulated provider account, from the accepted dial to its end.

``run_call`` plays the callee's script (callee.py) the same way for every provider: it initiates the call,
rings, answers (or is busy, rings out, fails), streams, and ends. At each step it asks the provider's
``CallFlow`` (``<provider>_calls.py``) to post that provider's status callbacks, in its own names and order,
and on answer to open the media stream exactly as that provider would: from the dial's inline TwiML
(Twilio), the dial's stream parameters (Telnyx, Exotel) or the answer URL's XML (Plivo). The stream runs on
the inbound simulators' engine (``ProviderSimulator.stream``: session.py and ``<provider>_wire.py``), so what
the callee said and heard is recorded as in an inbound call.

A call hung up through the account's REST API stops ringing (``canceled``) or hangs up its stream at the next
tick; a call whose stream the server closes ends then, unless the provider keeps it up (Telnyx Call
Control: the call stays until it is hung up or the callee hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import soxr

from callbridge.devkit.signals import read_wav, silence, tone
from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.base import ProviderSimulator
from callbridge.devkit.simulators.errors import SimulatorError
from callbridge.devkit.simulators.phone_menu import MenuScript
from callbridge.devkit.simulators.recording import StreamRecording
from callbridge.devkit.simulators.rest.callbacks import CallbackSender
from callbridge.devkit.simulators.rest.callee import DEFAULT_RING_S, CalleeBehaviour
from callbridge.devkit.simulators.rest.line import SimulatedProviderCall

__all__ = [
    "CallFlow",
    "HungUpBy",
    "Note",
    "OutboundCall",
    "Outcome",
    "StreamStart",
    "callee_audio",
    "run_call",
]

LOGGER = logging.getLogger(__name__)
SPEECH_DBFS = -10.0
BUSY_AFTER_S = 0.1
LOST_STREAM_ERROR = "the media stream's WebSocket connection was lost (closed without a close frame)"
"""How soon a busy line or a failing call is reported when the behaviour gives no time."""

HungUpBy = Literal["callee", "stream", "api", "transfer", "joined"]
"""Who ended an answered call: the callee hanging up, the server closing the media stream, the account's
REST API hanging up, or its transfer of the call elsewhere (the stream stops; the simulated target answers
and the call ends there), or its joining the call to another in a conference or bridge (a warm transfer)."""


class Outcome(enum.StrEnum):
    """How a call ended, in terms each provider's flow puts in its own words."""

    COMPLETED = "completed"
    """Answered, then hung up."""
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    CANCELED = "canceled"
    """Hung up through the REST API before it was answered."""


@dataclass(eq=False)
class OutboundCall:
    """One call the simulated account placed: what was asked, what happened, what the callee heard."""

    provider: str
    call_id: str
    """The provider's call id (Twilio CallSid, Telnyx call_control_id, Plivo CallUUID, Exotel CallSid)."""
    to: str
    from_: str
    behaviour: CalleeBehaviour
    params: dict[str, Any]
    """The dial as the API received it (form fields, or the JSON body)."""
    line: SimulatedProviderCall
    """The call as the account's REST API reports it (status, hung up through the API)."""
    callbacks: CallbackSender
    request_id: str | None = None
    """Plivo's ``request_uuid``."""
    outcome: Outcome | None = None
    hung_up_by: HungUpBy | None = None
    answer: Any = None
    """What the callee's stream was opened from (``TwiMLAnswer``, ``TeXMLAnswer``, ``PlivoAnswer``,
    ``ExotelAnswer``)."""
    recording: StreamRecording | None = None
    error: str | None = None
    """Why the call could not stream (an answer URL that failed, TwiML the provider cannot run …)."""
    started_at_s: float = field(default_factory=time.monotonic)
    answered_at_s: float | None = None
    ended_at_s: float | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def duration_s(self) -> int:
        """Whole seconds from answer to end (what the providers report as the call's duration)."""
        if self.answered_at_s is None or self.ended_at_s is None:
            return 0
        return round(self.ended_at_s - self.answered_at_s)


@dataclass(frozen=True, slots=True)
class StreamStart:
    """How the provider streams an answered call: one of the inbound simulators and its answer."""

    simulator: ProviderSimulator[Any]
    answer: Any


class CallFlow(ABC):
    """One provider's side of one outbound call: the callbacks it posts at each step and how it streams.

    Each step's hook queues that provider's callbacks (``self.call.callbacks``) and moves the REST API's
    view of the call (``self.call.line.status``) on."""

    ends_with_stream: ClassVar[bool] = True
    """Whether the call ends when the server closes the stream (Twilio's ``<Hangup/>``, Plivo's XML running
    out, Exotel's Voice AI) or stays up until hung up (Telnyx Call Control)."""

    def __init__(self, call: OutboundCall, ring_timeout_s: float) -> None:
        self.call = call
        self.ring_timeout_s = ring_timeout_s

    @abstractmethod
    def initiated(self) -> None:
        """The provider starts dialing."""

    @abstractmethod
    def ringing(self) -> None:
        """The callee's phone rings."""

    @abstractmethod
    async def answered(self) -> StreamStart | None:
        """The callee picked up: post what the provider posts, and say how the stream is opened; None when
        it cannot be (``self.call.error`` says why), and the call then ends."""

    @abstractmethod
    def stream_opened(self, stream_id: str) -> None:
        """The media WebSocket is open; ``stream_id`` is what its ``start`` message names it."""

    @abstractmethod
    def stream_closed(self, error: str | None) -> None:
        """The media WebSocket closed, or could not be opened (``error``)."""

    @abstractmethod
    def ended(self, outcome: Outcome) -> None:
        """The call is over: the provider's final callbacks."""


Note = Callable[["OutboundCall", str], None]
"""Told of each step of a call (``ringing``, ``answered``, ``ended busy`` …)."""


async def run_call(flow: CallFlow, note: Note) -> None:
    """Play the call to its end. Failures are the call's (``call.error``), never the account's."""
    call = flow.call
    try:
        outcome = await _play(flow, lambda step: note(call, step))
    except asyncio.CancelledError:
        call.error = call.error or "the simulated account stopped"
        await call.callbacks.abort()
        call.ended.set()
        raise
    except Exception as exc:  # a bug in one simulated call must not end the account's other calls
        LOGGER.exception("simulated %s call %s failed", call.provider, call.call_id)
        call.error = call.error or f"simulator error: {type(exc).__name__}: {exc}"
        outcome = Outcome.FAILED if call.answered_at_s is None else Outcome.COMPLETED
    call.outcome = outcome
    call.ended_at_s = time.monotonic()
    try:
        flow.ended(outcome)
        note(call, f"ended {outcome}" + (f" (hung up by {call.hung_up_by})" if call.hung_up_by else ""))
    finally:
        await call.callbacks.close()
        call.ended.set()


async def _play(flow: CallFlow, note: Callable[[str], None]) -> Outcome:
    call, behaviour = flow.call, flow.call.behaviour
    hung_up = call.line.hung_up
    flow.initiated()
    note(f"dialed {call.to} from {call.from_}: {behaviour}")
    if behaviour.kind in ("busy", "fails"):
        if await _hung_up_within(hung_up, BUSY_AFTER_S if behaviour.ring_s is None else behaviour.ring_s):
            return Outcome.CANCELED
        return Outcome.BUSY if behaviour.kind == "busy" else Outcome.FAILED
    flow.ringing()
    note("ringing")
    if behaviour.kind == "no_answer":
        ring_s = flow.ring_timeout_s if behaviour.ring_s is None else behaviour.ring_s
        return Outcome.CANCELED if await _hung_up_within(hung_up, ring_s) else Outcome.NO_ANSWER
    ring_s = DEFAULT_RING_S if behaviour.ring_s is None else behaviour.ring_s
    if await _hung_up_within(hung_up, min(ring_s, flow.ring_timeout_s)):
        return Outcome.CANCELED
    if ring_s > flow.ring_timeout_s:
        return Outcome.NO_ANSWER  # it would have answered, but the dial's ring timeout came first
    call.answered_at_s = time.monotonic()
    call.answered.set()
    note("answered")
    start = await flow.answered()
    if start is None:
        note(f"not streamed: {call.error}")
    else:
        await _stream(flow, start, note)
    if call.hung_up_by is None:
        call.hung_up_by = "api" if hung_up.is_set() else "callee"
    return Outcome.COMPLETED


async def _stream(flow: CallFlow, start: StreamStart, note: Callable[[str], None]) -> None:
    call, behaviour = flow.call, flow.call.behaviour
    call.answer = start.answer
    hung_up = call.line.hung_up

    def opened(stream_id: str) -> None:
        flow.stream_opened(stream_id)
        note(f"streaming to {_without_query(getattr(start.answer, 'stream_url', ''))}")

    try:
        audio = callee_audio(behaviour, start.simulator.inbound_codec(start.answer))
        recording = await start.simulator.stream(
            start.answer,
            audio,
            dtmf=behaviour.key_presses(),
            hang_up_after_s=behaviour.hold_s,
            hang_up=hung_up,
            on_open=opened,
            phone_menu=MenuScript() if behaviour.kind == "phone_menu" else None,
            out_of_band_keys=call.line.key_listeners,
        )
    except (SimulatorError, ValueError, OSError) as exc:  # OSError, ValueError: an unreadable WAV
        call.error = f"the stream could not be run: {exc}"
        flow.stream_closed(call.error)
        note(call.error)
        return
    call.recording = recording
    # A server that dies mid-call (its socket gone without a close frame) is a stream failure at the
    # provider (Twilio stream-error, Telnyx streaming.failed, Plivo DroppedStream); a close is a stop.
    lost = recording.ended_by == "connection_lost"
    flow.stream_closed(LOST_STREAM_ERROR if lost else None)
    note(f"stream ended by {recording.ended_by}")
    if call.line.conference is not None and call.line.stream_stopped:
        call.hung_up_by = "joined"
        note(f"joined to conference {call.line.conference}")
    elif call.line.transferred_to is not None:
        call.hung_up_by = "transfer"
        note(f"transferred to {call.line.transferred_to}")
    elif hung_up.is_set():
        call.hung_up_by = "api"
    elif recording.ended_by == "simulator":
        call.hung_up_by = "callee"
    else:
        call.hung_up_by = "stream"
        if not flow.ends_with_stream:
            # The call stays up without its stream, until the callee gives up or it is hung up.
            remaining_s = behaviour.hold_s - (time.monotonic() - (call.answered_at_s or time.monotonic()))
            call.hung_up_by = "api" if await _hung_up_within(hung_up, remaining_s) else "callee"


async def _hung_up_within(hung_up: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` (the ring, the hold: the behaviour itself) unless hung up sooner; whether it was."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await hung_up.wait()
    return hung_up.is_set()


def _without_query(url: str) -> str:
    """A stream URL fit to print: its path carries a single-use credential, so only where it goes."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def callee_audio(behaviour: CalleeBehaviour, codec: AudioCodec) -> npt.NDArray[np.int16]:
    """What the callee says, at the stream's inbound rate: its WAV (resampled), a tone, or nothing."""
    rate_hz = codec.sample_rate_hz
    if not behaviour.speaks:
        return silence(0.0, rate_hz)
    if behaviour.wav is None:
        return tone(behaviour.tone_hz, behaviour.speech_s, rate_hz, SPEECH_DBFS)
    pcm, wav_rate_hz = read_wav(behaviour.wav)
    if wav_rate_hz == rate_hz:
        return pcm
    resampled: npt.NDArray[np.int16] = soxr.resample(pcm, wav_rate_hz, rate_hz)
    return resampled
