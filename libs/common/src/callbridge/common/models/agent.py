"""Agents: a name and a call template, from which calls are started (Ultravox §2).

A template's agent header values are write-only (see backend.py): the request form carries them in the
clear, the stored form sealed, and the public form shows ``headerValuePrefixes`` only.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, field_validator

from callbridge.common.models.backend import AgentBackendPublic, StoredAgentBackend
from callbridge.common.models.base import ApiModel, StoredModel
from callbridge.common.models.call import CallFields, CallSettings
from callbridge.common.models.callbacks import CallbacksPublic, SealedCallbacks
from callbridge.common.models.json_values import JsonObject
from callbridge.common.models.sealing import Encrypt
from callbridge.common.models.supported import refuse_unsupported

_CONTEXT_SCHEMA = "Not supported yet: leave it out (``templateContext`` is not checked against a schema)."


class CallTemplate(CallSettings):
    """The call fields every call from an agent starts from, as a request gives them; ``{{var}}``
    placeholders are filled from the call's ``templateContext``."""

    context_schema: JsonObject | None = Field(default=None, description=_CONTEXT_SCHEMA)

    def stored(self, encrypt: Encrypt) -> StoredCallTemplate:
        """The template with the agent's header values and callback secrets sealed, as KV stores it."""
        fields = {name: getattr(self, name) for name in CallTemplatePublic.model_fields}
        backend = None if self.agent_backend is None else self.agent_backend.seal(encrypt)
        callbacks = None if self.callbacks is None else self.callbacks.seal(encrypt)
        return StoredCallTemplate.model_validate({**fields, "agent_backend": backend, "callbacks": callbacks})


class CallTemplatePublic(CallFields):
    """An agent's call template as the API answers it: header names and value prefixes, no values."""

    context_schema: JsonObject | None = Field(default=None, description=_CONTEXT_SCHEMA)
    agent_backend: AgentBackendPublic | None = Field(
        default=None, description="Which agent speaks on the calls; header values are not returned."
    )
    callbacks: CallbacksPublic | None = Field(
        default=None, description="Each call's own callbacks; secrets are not returned (secretPrefixes)."
    )


class StoredCallTemplate(CallTemplatePublic):
    """An agent's call template as KV stores it: header values sealed."""

    agent_backend: StoredAgentBackend | None = None
    callbacks: SealedCallbacks | None = None

    def public(self) -> CallTemplatePublic:
        fields = {name: getattr(self, name) for name in CallTemplatePublic.model_fields}
        fields["agent_backend"] = None if self.agent_backend is None else self.agent_backend.public()
        fields["callbacks"] = None if self.callbacks is None else self.callbacks.public()
        return CallTemplatePublic.model_validate(fields)


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
        default=None,
        description=_TEMPLATE + " Replaces the whole template: send the agent's headers again in full.",
    )

    @field_validator("call_template")
    @classmethod
    def _supported(cls, template: CallTemplate | None) -> CallTemplate | None:
        return None if template is None else refuse_unsupported(template)


class AgentPublic(StoredModel):
    """An agent as the API answers it: a name and the template its calls start from."""

    agent_id: UUID = Field(description="The agent's id.")
    name: str = Field(description="The agent's name.")
    created: datetime = Field(description="When the agent was created (UTC).")
    call_template: CallTemplatePublic = Field(description=_TEMPLATE)


class Agent(AgentPublic):
    """An agent as KV stores it (header values and callback secrets sealed)."""

    call_template: StoredCallTemplate

    def public(self) -> AgentPublic:
        return AgentPublic(
            agent_id=self.agent_id,
            name=self.name,
            created=self.created,
            call_template=self.call_template.public(),
        )


class AgentPage(ApiModel):
    """A page of agents, newest first, with the URLs of the pages around it."""

    results: list[AgentPublic] = Field(description="The agents on this page.")
    next: str | None = Field(default=None, description="The URL of the next page; null on the last.")
    previous: str | None = Field(default=None, description="The URL of the previous page; null on the first.")
    total: int = Field(description="How many agents there are in all.")
