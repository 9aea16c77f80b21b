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
    """The call fields of an agent; ``{{var}}`` placeholders are filled from ``templateContext``."""

    context_schema: JsonObject | None = None


class AgentCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    call_template: CallTemplate = Field(default_factory=CallTemplate)

    @field_validator("call_template")
    @classmethod
    def _supported(cls, template: CallTemplate) -> CallTemplate:
        return refuse_unsupported(template)


class AgentUpdate(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    call_template: CallTemplate | None = None

    @field_validator("call_template")
    @classmethod
    def _supported(cls, template: CallTemplate | None) -> CallTemplate | None:
        return None if template is None else refuse_unsupported(template)


class Agent(StoredModel):
    agent_id: UUID
    name: str
    created: datetime
    call_template: CallTemplate


class AgentPage(ApiModel):
    results: list[Agent]
    next: str | None = None
    previous: str | None = None
    total: int
