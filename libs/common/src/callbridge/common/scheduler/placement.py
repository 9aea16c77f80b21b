"""How the scheduler has a call placed: an injected ``CallPlacer`` (the dialer's creates the call and puts
its dial on the work queue; tests and the benchmark bring their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from callbridge.common.models.batch import ScheduledCall, StoredBatch
from callbridge.common.models.call import CallPublic


@dataclass(frozen=True, slots=True)
class Placement:
    """One attempt at a scheduled call: ``call_id`` was chosen and stored on the attempt before placing, so
    whoever places it again (a replica taking over) uses the same id."""

    call_id: UUID
    batch: StoredBatch
    call: ScheduledCall
    attempt: int


@dataclass(frozen=True, slots=True)
class PlacedCall:
    call: CallPublic
    """The created call, with its ``joinUrl`` (for a call the batch's webhook is told of)."""


class PlacementError(Exception):
    """The call cannot be placed (its template cannot be filled, the provider refused the dial): the
    attempt fails with this message."""


class PlacementDeferred(Exception):
    """No line for the call now (the account's capacity refused it): the attempt stays PENDING and is
    placed again at a later tick."""


class CallPlacer(Protocol):
    async def place(self, placement: Placement) -> PlacedCall:
        """Create the call ``placement.call_id`` and, for an ``outgoing`` medium, have it dialed.

        Idempotent per call id: placing an attempt again (after a replica died, or twice at once) creates
        and dials nothing more, and answers the call already created."""
        ...
