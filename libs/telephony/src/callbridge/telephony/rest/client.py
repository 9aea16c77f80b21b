"""What every provider's REST client offers: act on a live call by the provider's call id.

``hang_up`` and ``fetch_call`` now; ``dial``, ``transfer`` and ``send_dtmf`` come with the services that need
them. Every call has a timeout, errors are this package's (``ProviderApiError`` and its kinds), and a client
is closed with ``aclose`` (or used as ``async with``).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self

from callbridge.common.models.medium import Provider


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


class ProviderRestClient(ABC):
    """One provider account's REST API, reached at the configured API URL."""

    provider: ClassVar[Provider]

    @abstractmethod
    async def hang_up(self, provider_call_id: str) -> HangUpResult:
        """End the call. Idempotent: a call that has ended already is ``ALREADY_ENDED``, not an error."""

    @abstractmethod
    async def fetch_call(self, provider_call_id: str) -> ProviderCallState:
        """The call's current state; ``CallNotFound`` when the provider knows no such call."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connections this client holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
