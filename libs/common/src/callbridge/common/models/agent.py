"""Agents: a name and a call template, from which calls are started (Ultravox §2)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from callbridge.common.models.backend import AgentBackendPublic, StoredAgentBackend
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.call import CallFields, CallSettings
from callbridge.common.models.sealing import Encrypt


class CallTemplate(CallSettings):
    """The call fields of an agent, as a request gives them; ``{{var}}`` placeholders are filled from
    ``templateContext``."""

    context_schema: dict[str, object] | None = None

    def stored(self, encrypt: Encrypt) -> StoredCallTemplate:
        """The template with the agent's header values sealed, as KV stores it."""
        fields = {name: getattr(self, name) for name in CallTemplatePublic.model_fields}
        backend = None if self.agent_backend is None else self.agent_backend.seal(encrypt)
        return StoredCallTemplate.model_validate({**fields, "agent_backend": backend})


class CallTemplatePublic(CallFields):
    """An agent's call template as the API answers it: header names and value prefixes, no values."""

    context_schema: dict[str, object] | None = None
    agent_backend: AgentBackendPublic | None = None


class StoredCallTemplate(CallTemplatePublic):
    """An agent's call template as KV stores it: header values sealed."""

    agent_backend: StoredAgentBackend | None = None

    def public(self) -> CallTemplatePublic:
        fields = {name: getattr(self, name) for name in CallTemplatePublic.model_fields}
        fields["agent_backend"] = None if self.agent_backend is None else self.agent_backend.public()
        return CallTemplatePublic.model_validate(fields)


class AgentCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    call_template: CallTemplate = Field(default_factory=CallTemplate)


class AgentUpdate(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    call_template: CallTemplate | None = Field(
        default=None, description="Replaces the whole template: send the agent's headers again in full."
    )


class AgentPublic(StoredModel):
    """An agent as the API answers it."""

    agent_id: UUID
    name: str
    created: datetime
    call_template: CallTemplatePublic


class Agent(AgentPublic):
    """An agent as KV stores it."""

    call_template: StoredCallTemplate

    def public(self) -> AgentPublic:
        return AgentPublic(
            agent_id=self.agent_id,
            name=self.name,
            created=self.created,
            call_template=self.call_template.public(),
        )


class AgentPage(ApiModel):
    results: list[AgentPublic]
    next: str | None = None
    previous: str | None = None
    total: int
