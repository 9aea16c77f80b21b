"""Agents: a name and a call template, from which calls are started (Ultravox §2)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.call import CallSettings
from callbridge.common.models.json_values import JsonObject
from callbridge.common.models.supported import refuse_unsupported


class CallTemplate(CallSettings):
    """The call fields every call from an agent starts from; ``{{var}}`` placeholders are filled from the
    call's ``templateContext``."""

    context_schema: JsonObject | None = None
    """Not supported yet: leave it out (``templateContext`` is not checked against a schema)."""


_NAME = "The agent's name: 1 to 64 letters, digits, ``_`` or ``-``."
_TEMPLATE = "The call fields every call from this agent starts from."


class AgentCreate(ApiModel):
    """A new agent (``POST /api/agents``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$", description=_NAME)
    call_template: CallTemplate = Field(default_factory=CallTemplate, description=_TEMPLATE)

    @field_validator("call_template")
    @classmethod
    def _supported(cls, template: CallTemplate) -> CallTemplate:
        return refuse_unsupported(template)


class AgentUpdate(ApiModel):
    """Changes to an agent (``PATCH /api/agents/{agentId}``): what is given replaces what was there."""

    name: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$", description=_NAME
    )
    call_template: CallTemplate | None = Field(
        default=None, description=_TEMPLATE + " Replaces the whole template."
    )

    @field_validator("call_template")
    @classmethod
    def _supported(cls, template: CallTemplate | None) -> CallTemplate | None:
        return None if template is None else refuse_unsupported(template)


class Agent(StoredModel):
    """An agent: a name and the template its calls start from."""

    agent_id: UUID
    """The agent's id."""
    name: str
    """The agent's name."""
    created: datetime
    """When the agent was created (UTC)."""
    call_template: CallTemplate
    """The call fields every call from this agent starts from."""


class AgentPage(ApiModel):
    """A page of agents, newest first, with the URLs of the pages around it."""

    results: list[Agent]
    """The agents on this page."""
    next: str | None = None
    """The URL of the next page; null on the last."""
    previous: str | None = None
    """The URL of the previous page; null on the first."""
    total: int
    """How many agents there are in all."""
