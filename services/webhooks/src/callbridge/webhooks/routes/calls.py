"""``/api/calls`` and ``/api/agents/{agent_id}/calls``: start calls and read them.

Only the answer to the request that creates a call carries its ``joinUrl``; reading the call later
shows ``joinUrl: null`` (the join token is a credential, like the agent's header values, which are never
returned)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Request, status

from callbridge.common.models.call import AgentCallCreate, CallCreate, CallPage, CallPublic
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks.calls import merge_agent_call
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import NotFoundError
from callbridge.webhooks.pagination import paginate
from callbridge.webhooks.routes.agents import load_agent

router = APIRouter(prefix="/api", tags=["calls"], dependencies=[ApiKeyDep])

PageSize = Query(default=100, alias="pageSize", ge=1, le=1000)


@router.post("/calls", status_code=status.HTTP_201_CREATED, response_model=CallPublic)
async def create_call(services: ServicesDep, body: CallCreate) -> CallPublic:
    created = await services.calls.create(body.sealed(services.secret_box.encrypt))
    return created.public()


@router.get("/calls", response_model=CallPage)
async def list_calls(
    services: ServicesDep, request: Request, cursor: str | None = None, page_size: int = PageSize
) -> CallPage:
    calls = sorted(await services.stores.calls.all(), key=lambda c: c.created, reverse=True)
    page = paginate(calls, cursor, page_size, request)
    return CallPage(
        results=[call.public() for call in page.results],
        next=page.next,
        previous=page.previous,
        total=len(calls),
    )


@router.get("/calls/{call_id}", response_model=CallPublic)
async def get_call(services: ServicesDep, call_id: UUID) -> CallPublic:
    try:
        return (await services.stores.calls.get(str(call_id))).value.public()
    except StoreNotFoundError:
        raise NotFoundError(f"call {call_id} not found") from None


@router.post("/agents/{agent_id}/calls", status_code=status.HTTP_201_CREATED, response_model=CallPublic)
async def create_agent_call(services: ServicesDep, agent_id: UUID, body: AgentCallCreate) -> CallPublic:
    agent = await load_agent(services, agent_id)
    settings = merge_agent_call(agent, body, services.secret_box.encrypt)
    created = await services.calls.create(settings, agent_id=agent_id, template_context=body.template_context)
    return created.public()


@router.get("/agents/{agent_id}/calls", response_model=CallPage)
async def list_agent_calls(
    services: ServicesDep,
    request: Request,
    agent_id: UUID,
    cursor: str | None = None,
    page_size: int = PageSize,
) -> CallPage:
    await load_agent(services, agent_id)
    calls = sorted(
        (c for c in await services.stores.calls.all() if c.agent_id == agent_id),
        key=lambda c: c.created,
        reverse=True,
    )
    page = paginate(calls, cursor, page_size, request)
    return CallPage(
        results=[call.public() for call in page.results],
        next=page.next,
        previous=page.previous,
        total=len(calls),
    )
