"""What every provider media stream offers the call session: parsed inbound messages, built outbound ones.

A provider module turns its wire format into the small messages below and back; the session, the playout
and the agent bridge never see a provider's JSON. Adding a provider is one new module and a registry entry.
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from callbridge.common.models.call import Call
from callbridge.common.models.medium import Provider
from callbridge.media.ratelimit import CallLog


class Codec(enum.StrEnum):
    PCMU = "pcmu"
    PCMA = "pcma"
    L16 = "l16"


class ProtocolError(ValueError):
    """A provider message that does not follow the provider's protocol (it is counted and skipped)."""


ByteOrder = Literal["big", "little"]


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Per-provider settings of the media service that a stream needs (see MediaSettings)."""

    telnyx_l16_byte_order: ByteOrder = "big"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the provider's ``start`` says about the stream, and what callbridge sends back.

    The two directions are independent: Telnyx decodes by ``start.media_format`` but plays what the
    stream was set up with (``bidirectionalCodec``), which may differ (reference §2.5).
    """

    stream_id: str
    call_id: str
    account_id: str | None
    codec: Codec
    sample_rate_hz: int
    out_codec: Codec
    out_rate_hz: int
    channels: int = 1

    @property
    def media_format(self) -> str:
        """``pcmu/8000``, or ``l16/16000 in, pcmu/8000 out`` when the directions differ."""
        inbound = f"{self.codec.value}/{self.sample_rate_hz}"
        outbound = f"{self.out_codec.value}/{self.out_rate_hz}"
        return inbound if inbound == outbound else f"{inbound} in, {outbound} out"


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class Started:
    info: StreamInfo


@dataclass(slots=True)  # not frozen: 50 a second per call, and a frozen __init__ costs twice as much
class MediaReceived:
    pcm: npt.NDArray[np.int16]
    """Mono int16 at the stream's rate."""


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    digit: str


@dataclass(slots=True)  # not frozen: as MediaReceived
class MarkPlayed:
    name: str


@dataclass(frozen=True, slots=True)
class Cleared:
    """The provider confirms a clear (Plivo ``clearedAudio``): pending marks will never be acknowledged."""


@dataclass(frozen=True, slots=True)
class ProviderErrorReported:
    """The provider reports an error on the stream (Telnyx ``error``); the call goes on."""

    code: str
    title: str
    detail: str


@dataclass(frozen=True, slots=True)
class Stopped:
    pass


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid message callbridge has no use for (e.g. the outbound track of a media message)."""

    reason: str


Inbound = (
    Connected
    | Started
    | MediaReceived
    | DtmfPressed
    | MarkPlayed
    | Cleared
    | ProviderErrorReported
    | Stopped
    | Ignored
)


class ProviderStream(ABC):
    """One call's media stream in one provider's wire format.

    Constructed with the call (its ``medium`` says which codec callbridge asked the provider for: a stream
    keeps that part of it, not the call, whose record moves on), the service's stream options and the
    call's log; ``info`` is known once ``start`` has been parsed.
    """

    provider: ClassVar[Provider]
    max_media_ms: ClassVar[int] = 100
    """The longest inbound media message accepted, in ms of audio; a longer one is a ProtocolError, refused
    before it is decoded. One message carrying seconds of audio would be passed on at once and delay
    everything after it by as much (18 s in one message delayed an echo by 2.8 s)."""
    frame_ms: int = 20
    """Duration of one outbound audio message. A stream may set its own in ``__init__`` (Exotel's depends on
    the call's sample rate) but never changes it after: the session and playout read it before ``start``."""

    def __init__(self, call: Call, options: StreamOptions, log: CallLog | None = None) -> None:
        self.options = options
        base_log = log or CallLog.for_call(logging.getLogger(__name__), call.call_id, time.monotonic)
        self.log = base_log.child(logging.getLogger(type(self).__module__))
        """The call's log under this provider module's logger (warnings rate-limited per call)."""
        self.notices: list[str] = []
        """What the stream decided on a point the provider leaves undocumented (e.g. Telnyx's L16 byte
        order); the session publishes each one as a call event and clears the list."""

    def parse(self, message: str | bytes) -> Inbound:
        """Decode one WebSocket message; raise ProtocolError when it cannot be read.

        The one guarded boundary of provider input: whatever the provider's ``_parse`` raises, a library's
        ``ValueError`` or ``TypeError`` on input nobody foresaw included, leaves here as a ProtocolError,
        which the session counts and skips. So no exception type can reach the call's loop from a frame.
        Costs nothing per frame when nothing is raised (a ``try`` is free in CPython 3.11+).
        """
        try:
            return self._parse(message)
        except ProtocolError:
            raise
        except Exception as exc:
            raise ProtocolError(f"unreadable message ({type(exc).__name__}: {str(exc)[:120]})") from exc

    @abstractmethod
    def _parse(self, message: str | bytes) -> Inbound:
        """The provider's wire format: raise ProtocolError, with a message naming the field, for what
        breaks the protocol; anything else it raises is turned into one by ``parse``."""

    def counters(self) -> dict[str, int]:
        """What the stream counted about its inbound messages beyond rejected frames (for the metrics)."""
        return {}

    @property
    @abstractmethod
    def info(self) -> StreamInfo | None:
        """The stream's parameters once ``start`` has arrived."""

    @abstractmethod
    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        """One outbound audio message: ``frame_ms`` of mono int16 at ``info.out_rate_hz``."""

    @abstractmethod
    def mark_message(self, name: str) -> str:
        """A playback marker the provider echoes when the audio before it has played."""

    @abstractmethod
    def clear_message(self) -> str:
        """Barge-in: drop everything the provider has buffered."""
