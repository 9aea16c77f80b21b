"""What every provider media stream offers the call session: parsed inbound messages, built outbound ones.

A provider module turns its wire format into the small messages below and back; the session, the playout
and the agent bridge never see a provider's JSON. Adding a provider is one new module and a registry entry.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from callbridge.common.models.medium import Provider


class Codec(enum.StrEnum):
    PCMU = "pcmu"
    PCMA = "pcma"
    L16 = "l16"


class ProtocolError(ValueError):
    """A provider message that does not follow the provider's protocol (it is counted and skipped)."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the provider's ``start`` message says about the stream."""

    stream_id: str
    call_id: str
    account_id: str | None
    codec: Codec
    sample_rate_hz: int
    channels: int = 1
    custom_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def media_format(self) -> str:
        return f"{self.codec.value}/{self.sample_rate_hz}"


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class Started:
    info: StreamInfo


@dataclass(frozen=True, slots=True)
class MediaReceived:
    pcm: npt.NDArray[np.int16]
    """Mono int16 at the stream's rate."""


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True, slots=True)
class Stopped:
    pass


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid message callbridge has no use for (e.g. the outbound track of a media message)."""

    reason: str


Inbound = Connected | Started | MediaReceived | DtmfPressed | MarkPlayed | Stopped | Ignored


class ProviderStream(ABC):
    """One call's media stream in one provider's wire format."""

    provider: ClassVar[Provider]
    acknowledges_clear_with_marks: ClassVar[bool]
    """True where a clear makes the provider echo every pending mark (Twilio): those echoes mean not heard."""

    @abstractmethod
    def parse(self, message: str | bytes) -> Inbound:
        """Decode one WebSocket message; raise ProtocolError when it breaks the protocol."""

    @property
    @abstractmethod
    def info(self) -> StreamInfo | None:
        """The stream's parameters once ``start`` has arrived."""

    @abstractmethod
    def media_message(self, pcm: npt.NDArray[np.int16]) -> str:
        """One outbound audio frame (mono int16 at the stream's rate) in the provider's format."""

    @abstractmethod
    def mark_message(self, name: str) -> str:
        """A playback marker the provider echoes when the audio before it has played."""

    @abstractmethod
    def clear_message(self) -> str:
        """Barge-in: drop everything the provider has buffered."""
