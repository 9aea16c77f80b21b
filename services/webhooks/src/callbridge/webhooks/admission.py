"""Whether a new call may start now: the call throttle the request names (``?throttle=``).

A refusal is a 429 with ``Retry-After``, as Ultravox answers; nothing is stored. The check runs after the
request has been validated, so a call refused for another reason does not use up a throttle's start.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from callbridge.common.bus import Stores
from callbridge.common.call_factory import Admit
from callbridge.common.throttles import ThrottleNotFoundError
from callbridge.webhooks.errors import InvalidRequestError, TooManyCallsError

ThrottleRef = Annotated[
    str | None,
    Query(
        max_length=100,
        description="A call throttle's name or id: the call is refused with 429 and Retry-After when the "
        "throttle's rules allow no call to start now.",
    ),
]


async def throttle_admission(stores: Stores, reference: str | None) -> Admit | None:
    """The admission check for ``?throttle=``; 422 for a throttle that does not exist."""
    if reference is None:
        return None
    try:
        throttle = await stores.throttles.resolve(reference)
    except ThrottleNotFoundError as exc:
        raise InvalidRequestError(str(exc)) from None

    async def admit(call_id: UUID) -> None:
        decision = await stores.throttle_usage.take(throttle)
        if not decision.allowed:
            wait_s = decision.retry_after_s or 1.0
            raise TooManyCallsError(
                f"call throttle {throttle.name!r} allows no call to start now; try again in {wait_s:.1f} s",
                wait_s,
            )

    return admit
