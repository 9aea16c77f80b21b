"""``/api/agents/{agent_id}/scheduled_batches``: batches of calls the scheduler places inside their window
(Ultravox's outbound call scheduler, reference §4, plus resume, retries, hours, priority, auto-pause)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response, status

from callbridge.common.models.batch import (
    ScheduledBatch,
    ScheduledBatchCreate,
    ScheduledBatchPage,
    ScheduledBatchUpdate,
    ScheduledCallPage,
    ScheduledCallStatus,
    StoredBatch,
)
from callbridge.common.models.call import CallPage
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks import records
from callbridge.webhooks.batches import create_batch, load_batch, page_calls, public_batch
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import NotFoundError
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors
from callbridge.webhooks.pagination import paginate
from callbridge.webhooks.params import AgentId, Cursor, PageSize

router = APIRouter(
    prefix="/api/agents/{agent_id}/scheduled_batches",
    tags=["scheduled batches"],
    dependencies=[ApiKeyDep],
    responses=API_KEY_ERRORS,
)

BatchId = Annotated[UUID, Path(description="The batch's id.")]
StatusFilter = Annotated[
    ScheduledCallStatus | None, Query(description="Only calls in this status: FUTURE, PENDING, SUCCESS, …")
]
_ONE = errors(404, 409, 422)


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ScheduledBatch, responses={**BODY_ERRORS, **_ONE}
)
async def create_scheduled_batch(
    services: ServicesDep, agent_id: AgentId, body: ScheduledBatchCreate
) -> ScheduledBatch:
    """A batch of up to 100,000 calls (a body of up to 32 MiB), placed inside ``windowStart``–``windowEnd``
    at the capacity the provider accounts allow. 400 with the estimated minimum window when the window is
    too short for the calls."""
    await records.load_agent(services.stores, agent_id)
    batch = await create_batch(
        services.stores, services.configs, agent_id, body, services.secret_box.encrypt, datetime.now(UTC)
    )
    return await public_batch(services.stores.batches, batch)


@router.get("", response_model=ScheduledBatchPage, responses=errors(404, 409, 422))
async def list_scheduled_batches(
    services: ServicesDep,
    request: Request,
    agent_id: AgentId,
    cursor: Cursor = None,
    page_size: PageSize = 100,
) -> ScheduledBatchPage:
    """The agent's batches, newest first, a page at a time."""
    await records.load_agent(services.stores, agent_id)
    ids = await services.stores.batches.agent_batch_ids(agent_id)
    page = paginate(ids, cursor, page_size, request)
    results = []
    for batch_id in page.results:
        try:
            batch = (await services.stores.batches.get(batch_id)).value
        except StoreNotFoundError:  # deleted meanwhile
            continue
        results.append(await public_batch(services.stores.batches, batch))
    return ScheduledBatchPage(results=results, next=page.next, previous=page.previous, total=len(ids))


@router.get("/{batch_id}", response_model=ScheduledBatch, responses=_ONE)
async def get_scheduled_batch(services: ServicesDep, agent_id: AgentId, batch_id: BatchId) -> ScheduledBatch:
    """One batch with its progress: ``totalCount``, ``completedCount``, ``statusCounts``, ``endedAt``."""
    batch = await load_batch(services.stores.batches, agent_id, batch_id)
    return await public_batch(services.stores.batches, batch)


@router.patch("/{batch_id}", response_model=ScheduledBatch, responses={**BODY_ERRORS, **_ONE})
async def update_scheduled_batch(
    services: ServicesDep, agent_id: AgentId, batch_id: BatchId, body: ScheduledBatchUpdate
) -> ScheduledBatch:
    """Pause (``paused: true``: calls in progress finish, no new one starts), resume (``paused: false``,
    also after an auto-pause), or change the priority or the end of the window."""
    await load_batch(services.stores.batches, agent_id, batch_id)
    update = body.model_dump(exclude_unset=True, by_alias=False)
    if "paused" in update:
        update["paused_reason"] = None

    def apply(batch: StoredBatch) -> StoredBatch:
        return batch.model_copy(update=update)

    try:
        batch = await services.stores.batches.change(batch_id, apply)
    except StoreNotFoundError:
        raise NotFoundError(f"scheduled batch {batch_id} not found") from None
    if body.paused is False:  # resumed: auto-pause judges the attempts from now on
        await services.stores.batches.clear_recent_failures(batch_id)
    return await public_batch(services.stores.batches, batch)


@router.delete("/{batch_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ONE)
async def delete_scheduled_batch(services: ServicesDep, agent_id: AgentId, batch_id: BatchId) -> Response:
    """Cancel and delete a batch: no further call of it starts; calls in progress go on."""
    batch = await load_batch(services.stores.batches, agent_id, batch_id)
    try:
        await services.stores.batches.delete(batch)
    except StoreNotFoundError:
        raise NotFoundError(f"scheduled batch {batch_id} not found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{batch_id}/scheduled_calls", response_model=ScheduledCallPage, responses=_ONE)
async def list_scheduled_calls(
    services: ServicesDep,
    request: Request,
    agent_id: AgentId,
    batch_id: BatchId,
    status: StatusFilter = None,
    cursor: Cursor = None,
    page_size: PageSize = 100,
) -> ScheduledCallPage:
    """The batch's calls in batch order with their status and every attempt, a page at a time (pages go
    forward: ``previous`` is null)."""
    batch = await load_batch(services.stores.batches, agent_id, batch_id)
    page = await page_calls(services.stores.batches, batch, status, cursor, page_size)
    return ScheduledCallPage(
        results=page.calls,
        next=_next_url(request, page.next_cursor),
        total=page.total,
    )


@router.get("/{batch_id}/created_calls", response_model=CallPage, responses=_ONE)
async def list_created_calls(
    services: ServicesDep,
    request: Request,
    agent_id: AgentId,
    batch_id: BatchId,
    cursor: Cursor = None,
    page_size: PageSize = 100,
) -> CallPage:
    """The calls the batch created, every attempt's, in batch order, a page of scheduled calls at a time
    (pages go forward: ``previous`` is null; ``total`` counts the scheduled calls not waiting: placed or
    done)."""
    batch = await load_batch(services.stores.batches, agent_id, batch_id)
    page = await page_calls(services.stores.batches, batch, None, cursor, page_size, with_calls_only=True)
    calls = []
    for scheduled in page.calls:
        for attempt in scheduled.attempts:
            found = await services.stores.calls.find_readable(str(attempt.call_id))
            if found is not None:
                calls.append(found.value.public())
    counts = (await services.stores.batches.progress(batch_id)).counts()
    placed = sum(count for status, count in counts.items() if status is not ScheduledCallStatus.FUTURE)
    return CallPage(results=calls, next=_next_url(request, page.next_cursor), total=placed)


def _next_url(request: Request, cursor: str | None) -> str | None:
    return None if cursor is None else str(request.url.include_query_params(cursor=cursor))
