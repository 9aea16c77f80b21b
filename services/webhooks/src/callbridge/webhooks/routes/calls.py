"""``/api/calls`` and ``/api/agents/{agent_id}/calls``: start calls and read them."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from callbridge.common.models.call import AgentCallCreate, Call, CallCreate, CallPage
from callbridge.common.models.supported import refuse_unsupported
from callbridge.webhooks import records
from callbridge.webhooks.calls import merge_agent_call
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import InvalidRequestError
from callbridge.webhooks.pagination import paginate

router = APIRouter(prefix="/api", tags=["calls"], dependencies=[ApiKeyDep])

PageSize = Query(default=100, alias="pageSize", ge=1, le=1000)


@router.post("/calls", status_code=status.HTTP_201_CREATED, response_model=Call)
async def create_call(services: ServicesDep, body: CallCreate) -> Call:
    return await services.calls.create(body)


@router.get("/calls", response_model=CallPage)
async def list_calls(
    services: ServicesDep, request: Request, cursor: str | None = None, page_size: int = PageSize
) -> CallPage:
    calls = sorted(await services.stores.calls.all(), key=lambda c: c.created, reverse=True)
    page = paginate(calls, cursor, page_size, request)
    return CallPage(results=page.results, next=page.next, previous=page.previous, total=len(calls))


@router.get("/calls/{call_id}", response_model=Call)
async def get_call(services: ServicesDep, call_id: UUID) -> Call:
    return await records.load_call(services.stores, call_id)


@router.delete("/calls/{call_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_call(services: ServicesDep, call_id: UUID) -> Response:
    await records.delete_call(services.stores, call_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/agents/{agent_id}/calls", status_code=status.HTTP_201_CREATED, response_model=Call)
async def create_agent_call(services: ServicesDep, agent_id: UUID, body: AgentCallCreate) -> Call:
    agent = await records.load_agent(services.stores, agent_id)
    settings = merge_agent_call(agent, body)
    try:  # the template was checked when saved; this catches one saved before a refusal was added
        refuse_unsupported(settings)
    except ValueError as exc:
        raise InvalidRequestError(f"agent {agent_id}'s callTemplate: {exc}; update the agent") from None
    return await services.calls.create(settings, agent_id=agent_id, template_context=body.template_context)


@router.get("/agents/{agent_id}/calls", response_model=CallPage)
async def list_agent_calls(
    services: ServicesDep,
    request: Request,
    agent_id: UUID,
    cursor: str | None = None,
    page_size: int = PageSize,
) -> CallPage:
    await records.load_agent(services.stores, agent_id)
    calls = sorted(
        (c for c in await services.stores.calls.all() if c.agent_id == agent_id),
        key=lambda c: c.created,
        reverse=True,
    )
    page = paginate(calls, cursor, page_size, request)
    return CallPage(results=page.results, next=page.next, previous=page.previous, total=len(calls))
