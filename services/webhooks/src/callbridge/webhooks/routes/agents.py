"""``/api/agents``: create, list, read, update and delete agents.

The template's agent header values are sealed as the request arrives and never returned: answers show
``headerValuePrefixes``."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from fastapi import APIRouter, Request, Response, status

from callbridge.common.models.agent import Agent, AgentCreate, AgentPage, AgentPublic, AgentUpdate
from callbridge.webhooks import records
from callbridge.webhooks.deps import ApiKeyDep, ServicesDep
from callbridge.webhooks.openapi import API_KEY_ERRORS, BODY_ERRORS, errors
from callbridge.webhooks.pagination import paginate
from callbridge.webhooks.params import AgentId, Cursor, PageSize

router = APIRouter(prefix="/api/agents", tags=["agents"], dependencies=[ApiKeyDep], responses=API_KEY_ERRORS)

_ONE_AGENT = errors(404, 409, 422)


@router.get("", response_model=AgentPage, responses=errors(422))
async def list_agents(
    services: ServicesDep, request: Request, cursor: Cursor = None, page_size: PageSize = 100
) -> AgentPage:
    """The agents, newest first, a page at a time. An agent stored in a form this version cannot read is
    left out (reading it by id says so)."""
    agents = sorted(await services.stores.agents.all(), key=lambda a: a.created, reverse=True)
    page = paginate(agents, cursor, page_size, request)
    return AgentPage(
        results=[agent.public() for agent in page.results],
        next=page.next,
        previous=page.previous,
        total=len(agents),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgentPublic, responses=BODY_ERRORS)
async def create_agent(services: ServicesDep, body: AgentCreate) -> AgentPublic:
    """Create an agent: a name and the call template its calls start from."""
    agent = Agent(
        agent_id=uuid4(),
        name=body.name,
        created=datetime.now(UTC),
        call_template=body.call_template.stored(services.secret_box.encrypt),
    )
    await services.stores.agents.create(str(agent.agent_id), agent)
    return agent.public()


@router.get("/{agent_id}", response_model=AgentPublic, responses=_ONE_AGENT)
async def get_agent(services: ServicesDep, agent_id: AgentId) -> AgentPublic:
    """One agent. 409 if it is stored in a form this version cannot read: delete it and create it again."""
    return (await records.load_agent(services.stores, agent_id)).public()


@router.patch("/{agent_id}", response_model=AgentPublic, responses={**BODY_ERRORS, **_ONE_AGENT})
async def update_agent(services: ServicesDep, agent_id: AgentId, body: AgentUpdate) -> AgentPublic:
    """Change an agent's name or replace its call template (send its headers again in full)."""
    await records.load_agent(services.stores, agent_id)
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


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
async def delete_agent(services: ServicesDep, agent_id: AgentId) -> Response:
    """Delete an agent, also one stored in a form this version cannot read. Its calls are kept."""
    await records.delete_agent(services.stores, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
