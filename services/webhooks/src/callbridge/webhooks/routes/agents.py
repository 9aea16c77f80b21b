"""``/api/agents``: create, list, read, update and delete agents.

The template's agent header values are sealed as the request arrives and never returned: answers show
``headerValuePrefixes``."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Request, Response, status

from callbridge.common.models.agent import Agent, AgentCreate, AgentPage, AgentPublic, AgentUpdate
from callbridge.common.store import NotFoundError as StoreNotFoundError
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.errors import NotFoundError
from callbridge.webhooks.pagination import paginate

router = APIRouter(prefix="/api/agents", tags=["agents"], dependencies=[ApiKeyDep])


async def load_agent(services: ServicesDep, agent_id: UUID) -> Agent:
    try:
        return (await services.stores.agents.get(str(agent_id))).value
    except StoreNotFoundError:
        raise NotFoundError(f"agent {agent_id} not found") from None


@router.get("", response_model=AgentPage)
async def list_agents(
    services: ServicesDep,
    request: Request,
    cursor: str | None = None,
    page_size: int = Query(default=100, alias="pageSize", ge=1, le=1000),
) -> AgentPage:
    agents = sorted(await services.stores.agents.all(), key=lambda a: a.created, reverse=True)
    page = paginate(agents, cursor, page_size, request)
    return AgentPage(
        results=[agent.public() for agent in page.results],
        next=page.next,
        previous=page.previous,
        total=len(agents),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgentPublic)
async def create_agent(services: ServicesDep, body: AgentCreate) -> AgentPublic:
    agent = Agent(
        agent_id=uuid4(),
        name=body.name,
        created=datetime.now(UTC),
        call_template=body.call_template.stored(services.secret_box.encrypt),
    )
    await services.stores.agents.create(str(agent.agent_id), agent)
    return agent.public()


@router.get("/{agent_id}", response_model=AgentPublic)
async def get_agent(services: ServicesDep, agent_id: UUID) -> AgentPublic:
    return (await load_agent(services, agent_id)).public()


@router.patch("/{agent_id}", response_model=AgentPublic)
async def update_agent(services: ServicesDep, agent_id: UUID, body: AgentUpdate) -> AgentPublic:
    await load_agent(services, agent_id)
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    template = None if body.call_template is None else body.call_template.stored(services.secret_box.encrypt)

    def apply(agent: Agent) -> Agent:
        update: dict[str, object] = {}
        if "name" in changes and body.name is not None:
            update["name"] = body.name
        if "call_template" in changes and template is not None:
            update["call_template"] = template
        return agent.model_copy(update=update)

    return (await services.stores.agents.mutate(str(agent_id), apply)).value.public()


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(services: ServicesDep, agent_id: UUID) -> Response:
    try:
        await services.stores.agents.delete(str(agent_id))
    except StoreNotFoundError:
        raise NotFoundError(f"agent {agent_id} not found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
