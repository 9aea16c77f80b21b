"""Imported provider credentials (Ultravox §3): write-only secrets, only their prefixes are returned."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, model_validator

from callbridge.common.models.base import ApiModel, StoredModel

SECRET_PREFIX_LENGTH = 4


def secret_prefix(secret: str) -> str:
    """What the API shows of a secret: its first characters, never the whole."""
    return secret[:SECRET_PREFIX_LENGTH]


class _AgentAccess(ApiModel):
    call_creation_allowed_agent_ids: list[UUID] = Field(default_factory=list, max_length=100)
    call_creation_allow_all_agents: bool = False
    request_context_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Dot-separated webhook field -> dot-separated template context field.",
    )

    @model_validator(mode="after")
    def _not_both(self) -> _AgentAccess:
        if self.call_creation_allow_all_agents and self.call_creation_allowed_agent_ids:
            raise ValueError(
                "callCreationAllowedAgentIds may not be set when callCreationAllowAllAgents is true"
            )
        return self


class TwilioConfigCreate(_AgentAccess):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=8, max_length=256)


class TwilioConfigUpdate(ApiModel):
    account_sid: str | None = Field(default=None, pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str | None = Field(default=None, min_length=8, max_length=256)
    call_creation_allowed_agent_ids: list[UUID] | None = Field(default=None, max_length=100)
    call_creation_allow_all_agents: bool | None = None
    request_context_mapping: dict[str, str] | None = None


class TwilioConfigPublic(_AgentAccess):
    account_sid: str
    auth_token_prefix: str


class StoredTwilioConfig(StoredModel):
    """The KV record: the auth token is encrypted (see callbridge.common.secrets)."""

    account_sid: str
    auth_token_encrypted: str
    auth_token_prefix: str
    call_creation_allowed_agent_ids: list[UUID] = Field(default_factory=list)
    call_creation_allow_all_agents: bool = False
    request_context_mapping: dict[str, str] = Field(default_factory=dict)

    def public(self) -> TwilioConfigPublic:
        return TwilioConfigPublic(
            account_sid=self.account_sid,
            auth_token_prefix=self.auth_token_prefix,
            call_creation_allowed_agent_ids=self.call_creation_allowed_agent_ids,
            call_creation_allow_all_agents=self.call_creation_allow_all_agents,
            request_context_mapping=self.request_context_mapping,
        )

    def allows_agent(self, agent_id: UUID) -> bool:
        return self.call_creation_allow_all_agents or agent_id in self.call_creation_allowed_agent_ids
