"""``/api/call_throttles``: sliding-window limits on call starts, used by ``?throttle=`` and batches.

Names are unique (an index key per name, taken by compare-and-set); a throttle is referred to by its
name or its id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import Field

from callbridge.common.models.base import ApiModel
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.common.throttles import CallThrottle, CallThrottleCreate, CallThrottleUpdate, ThrottleRule
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import AlreadyExistsError, NotFoundError
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors
from callbridge.webhooks.pagination import paginate
from callbridge.webhooks.params import Cursor, PageSize

router = APIRouter(
    prefix="/api/call_throttles", tags=["call throttles"], dependencies=[ApiKeyDep], responses=API_KEY_ERRORS
)

ThrottleId = Annotated[UUID, Path(description="The throttle's id.")]


class CallThrottlePage(ApiModel):
    """A page of call throttles, newest first, with the URLs of the pages around it."""

    results: list[CallThrottle] = Field(description="The throttles on this page.")
    next: str | None = Field(default=None, description="The URL of the next page; null on the last.")
    previous: str | None = Field(default=None, description="The URL of the previous page; null on the first.")
    total: int = Field(description="How many throttles there are in all.")


@router.get("", response_model=CallThrottlePage, responses=errors(422))
async def list_throttles(
    services: ServicesDep, request: Request, cursor: Cursor = None, page_size: PageSize = 100
) -> CallThrottlePage:
    """The call throttles, newest first, a page at a time."""
    throttles = sorted(await services.stores.throttles.all(), key=lambda t: t.created, reverse=True)
    page = paginate(throttles, cursor, page_size, request)
    return CallThrottlePage(
        results=page.results, next=page.next, previous=page.previous, total=len(throttles)
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CallThrottle, responses=BODY_ERRORS)
async def create_throttle(services: ServicesDep, body: CallThrottleCreate) -> CallThrottle:
    """A throttle: every rule ("at most maxCalls calls in any windowSeconds") must allow a call for it to
    start. 409 if the name is taken."""
    throttle = CallThrottle(throttle_id=uuid4(), name=body.name, created=datetime.now(UTC), rules=body.rules)
    if not await services.stores.throttles.add(throttle):
        raise AlreadyExistsError(f"a call throttle named {body.name!r} exists already")
    return throttle


@router.get("/{throttle_id}", response_model=CallThrottle, responses=errors(404, 422))
async def get_throttle(services: ServicesDep, throttle_id: ThrottleId) -> CallThrottle:
    """One throttle."""
    return await _load(services, throttle_id)


@router.put("/{throttle_id}", response_model=CallThrottle, responses={**BODY_ERRORS, **errors(404, 409)})
async def replace_throttle(
    services: ServicesDep, throttle_id: ThrottleId, body: CallThrottleCreate
) -> CallThrottle:
    """Replace a throttle's name and rules."""
    return await _change(services, throttle_id, body.name, body.rules)


@router.patch("/{throttle_id}", response_model=CallThrottle, responses={**BODY_ERRORS, **errors(404, 409)})
async def update_throttle(
    services: ServicesDep, throttle_id: ThrottleId, body: CallThrottleUpdate
) -> CallThrottle:
    """Change a throttle's name or rules."""
    return await _change(services, throttle_id, body.name, body.rules)


@router.delete("/{throttle_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def delete_throttle(services: ServicesDep, throttle_id: ThrottleId) -> Response:
    """Delete a throttle; calls and batches naming it afterwards are refused (422)."""
    try:
        await services.stores.throttles.remove(throttle_id)
    except StoreNotFoundError:
        raise NotFoundError(f"call throttle {throttle_id} not found") from None
    await services.stores.throttle_usage.forget(throttle_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _change(
    services: ServicesDep, throttle_id: UUID, name: str | None, rules: list[ThrottleRule] | None
) -> CallThrottle:
    current = await _load(services, throttle_id)
    registry = services.stores.throttles
    if name is not None and name != current.name and not await registry.claim_name(name, throttle_id):
        raise AlreadyExistsError(f"a call throttle named {name!r} exists already")
    update: dict[str, object] = {}
    if name is not None:
        update["name"] = name
    if rules is not None:
        update["rules"] = rules

    def apply(throttle: CallThrottle) -> CallThrottle:
        return throttle.model_copy(update=update)

    try:
        return await registry.change(throttle_id, apply)
    except StoreNotFoundError:
        raise NotFoundError(f"call throttle {throttle_id} not found") from None


async def _load(services: ServicesDep, throttle_id: UUID) -> CallThrottle:
    found = await services.stores.throttles.get(throttle_id)
    if found is None:
        raise NotFoundError(f"call throttle {throttle_id} not found")
    return found
