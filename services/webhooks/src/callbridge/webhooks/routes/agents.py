"""``/api/agents``: create, list, read, update and delete agents."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response, status

from callbridge.common.models.agent import Agent, AgentCreate, AgentPage, AgentUpdate
from callbridge.webhooks import records
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.pagination import paginate

router = APIRouter(prefix="/api/agents", tags=["agents"], dependencies=[ApiKeyDep])


@router.get("", response_model=AgentPage)
async def list_agents(
    services: ServicesDep,
    request: Request,
    cursor: str | None = None,
    page_size: int = Query(default=100, alias="pageSize", ge=1, le=1000),
) -> AgentPage:
    agents = sorted(await services.stores.agents.all(), key=lambda a: a.created, reverse=True)
    page = paginate(agents, cursor, page_size, request)
    return AgentPage(results=page.results, next=page.next, previous=page.previous, total=len(agents))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Agent)
async def create_agent(services: ServicesDep, body: AgentCreate) -> Agent:
    agent = Agent(
        agent_id=uuid4(), name=body.name, created=datetime.now(UTC), call_template=body.call_template
    )
    await services.stores.agents.create(str(agent.agent_id), agent)
    return agent


@router.get("/{agent_id}", response_model=Agent)
async def get_agent(services: ServicesDep, agent_id: UUID) -> Agent:
    return await records.load_agent(services.stores, agent_id)


@router.patch("/{agent_id}", response_model=Agent)
async def update_agent(services: ServicesDep, agent_id: UUID, body: AgentUpdate) -> Agent:
    await records.load_agent(services.stores, agent_id)
    changes = body.model_dump(exclude_unset=True, by_alias=False)

    def apply(agent: Agent) -> Agent:
        update: dict[str, object] = {}
        if "name" in changes and body.name is not None:
            update["name"] = body.name
        if "call_template" in changes and body.call_template is not None:
            update["call_template"] = body.call_template
        return agent.model_copy(update=update)

    return (await services.stores.agents.mutate(str(agent_id), apply)).value


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(services: ServicesDep, agent_id: UUID) -> Response:
    await records.delete_agent(services.stores, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
