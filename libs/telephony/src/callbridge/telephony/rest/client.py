"""What every provider's REST client offers: place a call, and act on a live call by the provider's call id.

``dial``, ``hang_up`` and ``fetch_call`` on every provider; ``transfer`` (a cold transfer: the provider
connects the caller to another number or SIP URI, and the media stream ends) and ``send_dtmf`` (key presses
sent out of band) where the provider's API has them, else ``UnsupportedByProvider`` without a request: the
class attributes ``can_transfer`` and ``can_send_dtmf`` say which, so a caller can choose another way (DTMF in
band) before trying. Every call has a timeout, errors are this package's (``ProviderApiError`` and its kinds,
``InvalidDialRequest`` for a dial that is not sent), and a client is closed with ``aclose`` (or used as
``async with``).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, ClassVar, Self
from uuid import UUID

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import UnsupportedByProvider


class HangUpResult(enum.Enum):
    HUNG_UP = "hung_up"
    """The provider accepted the hang-up."""
    ALREADY_ENDED = "already_ended"
    """The call had ended already (Twilio 404/20404, Telnyx 422/90018, Plivo 404): nothing to do."""


class ProviderCallStatus(enum.StrEnum):
    """A provider call's state, in terms common to every provider."""

    QUEUED = "queued"
    """Created, not ringing yet."""
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    """Answered and up."""
    ENDED = "ended"
    """Over after being answered, or canceled."""
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    """Could not be placed or connected."""

    @property
    def is_over(self) -> bool:
        return self in _OVER


_OVER = frozenset(
    {
        ProviderCallStatus.ENDED,
        ProviderCallStatus.BUSY,
        ProviderCallStatus.NO_ANSWER,
        ProviderCallStatus.FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class ProviderCallState:
    """A provider call as its REST API reports it."""

    provider_call_id: str
    status: ProviderCallStatus
    provider_status: str
    """The status in the provider's own words (``in-progress``, ``completed``, ``is_alive=false``, …)."""
    detail: str | None = None
    """What else the provider says about how it ended (a hang-up cause), when it says anything."""


@dataclass(frozen=True, slots=True)
class DialRequest:
    """One outbound call to place: where it goes, and where the provider reports and streams it."""

    call_id: UUID
    """callbridge's call id: the idempotency key where the provider takes one (Telnyx ``command_id``)."""
    to: str
    """The number to call, E.164."""
    from_: str
    """The number to call from, E.164 (Exotel: the ExoPhone shown as caller id)."""
    join_url: str
    """The call's media WebSocket URL (signed, single-use): what the provider streams to on answer."""
    status_callback_url: str
    """Where the provider posts the call's progress (``…/api/calls/<callId>/provider_status/<provider>``)."""
    answer_url: str
    """Where Plivo fetches the ``<Stream>`` XML on answer (``…/api/calls/<callId>/answer/plivo``); the other
    providers take the stream in the dial itself and ignore it."""
    codec: str | None = None
    """The stream codec (Telnyx ``L16``/``PCMU``/``PCMA``); None: the config's, else the provider's
    default as for an incoming call. Twilio streams μ-law only; Plivo's codec is in its answer XML."""
    sample_rate_hz: int | None = None
    """The stream rate that goes with ``codec`` (Exotel: the ``?sample-rate=`` asked for)."""
    additional_params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Fields merged into the provider's create-call request, in the provider's own names; one that
    callbridge sets itself is refused (``InvalidDialRequest``)."""
    ring_timeout_s: int | None = None
    """How long the callee's phone may ring; None: the provider's default."""


@dataclass(frozen=True, slots=True)
class DialResult:
    """What the provider answered to a dial: it accepted the call, which now rings asynchronously."""

    provider_call_id: str | None
    """The call's id at the provider (Twilio CallSid, Telnyx call_control_id, Exotel CallSid); None for
    Plivo, whose call UUID first comes with the answer and status requests."""
    provider_request_id: str | None = None
    """Plivo's ``request_uuid``, which its ring, answer and hang-up requests carry as ``RequestUUID``."""


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A cold transfer: where the caller goes, and what the provider needs to send them there."""

    target: str
    """An E.164 number or a ``sip:``/``sips:`` URI."""
    caller_id: str | None = None
    """The number the target sees calling (E.164); None: the provider's default (the caller's number)."""
    extra_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """SIP headers for a SIP target (``X-…``), as the provider passes them."""
    xml_url: str | None = None
    """Plivo: where Plivo fetches the ``<Dial>`` XML it runs for the call (webhooks serves it); the other
    providers take the target in the request itself."""

    @property
    def is_sip(self) -> bool:
        return self.target.lower().startswith(("sip:", "sips:"))


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A warm transfer accepted: the provider connects two of its live calls to each other, and both media
    streams end."""

    first_call_id: str
    """The caller's call (the provider's id)."""
    second_call_id: str
    """The human's call (the provider's id)."""
    room: str
    """A name unique to the transfer: Twilio's conference name."""
    xml_urls: tuple[str, str] = ("", "")
    """Plivo: where Plivo fetches each call's conference XML (webhooks serves it)."""


MIN_DTMF_TONE_MS, MAX_DTMF_TONE_MS = 100, 500
"""The tone lengths Telnyx's send_dtmf accepts (``duration_millis``); other providers choose their own."""


class ProviderRestClient(ABC):
    """One provider account's REST API, reached at the configured API URL."""

    provider: ClassVar[Provider]
    can_transfer: ClassVar[bool] = False
    """Whether ``transfer`` is a request to the provider (else it raises ``UnsupportedByProvider``)."""
    can_send_dtmf: ClassVar[bool] = False
    """Whether ``send_dtmf`` sends the keys out of band (else it raises ``UnsupportedByProvider``)."""
    can_join: ClassVar[bool] = False
    """Whether ``join`` connects two live calls (a warm transfer); else ``UnsupportedByProvider``."""

    @abstractmethod
    async def dial(self, request: DialRequest) -> DialResult:
        """Place the call. ``ProviderRateLimited`` (with how long to wait, if the provider said) when the
        provider refuses for its limits, ``ProviderAuthError`` for refused credentials,
        ``ProviderUnavailable`` when it does not answer in time: whether that dial went through is then
        unknown. ``InvalidDialRequest`` is raised before any request."""

    @abstractmethod
    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        """End the call. Idempotent: a call that has ended already is ``ALREADY_ENDED``, not an error."""

    @abstractmethod
    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        """The call's current state; ``CallNotFound`` when the provider knows no such call."""

    async def transfer(self, provider_call_id: str, request: TransferRequest) -> None:
        """Connect the call to ``request.target`` instead of the media stream, which the provider then ends.
        ``CallNotFound`` (or ``CallAlreadyEnded``) when the call is over."""
        raise UnsupportedByProvider(
            self.provider, f"{self.provider.value} has no API to transfer a live call"
        )

    async def join(self, request: JoinRequest) -> None:
        """Connect two live calls of the account to each other instead of their media streams, which the
        provider then ends. ``CallNotFound`` (or ``CallAlreadyEnded``) when one is over."""
        raise UnsupportedByProvider(
            self.provider, f"{self.provider.value} has no API to connect two live calls"
        )

    async def send_dtmf(self, provider_call_id: str, digits: str, *, tone_ms: int | None = None) -> None:
        """Press ``digits`` (``0-9*#A-D``, ``w``/``W`` pauses) on the call, out of band; ``tone_ms``: each
        key's length where the provider takes one."""
        raise UnsupportedByProvider(
            self.provider, f"{self.provider.value} has no API to send DTMF on a live call: send it in band"
        )

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connections this client holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
